package io.edgedet.core;

/**
 * What {@code edgedet.runtime.Predictor.predict} does around the model: letterbox + normalise an RGB frame into
 * the input tensor, then decode the outputs and map the boxes back to the frame. The model call itself
 * (LiteRT on the phone) happens in between, outside the core.
 */
public final class Pipeline {
    public final Metadata meta;
    private final float[] input;
    private Letterbox last;

    public Pipeline(Metadata meta) {
        this.meta = meta;
        this.input = new float[3 * meta.inputSize * meta.inputSize];
    }

    /**
     * Fills and returns the model input for an interleaved RGB frame, in the file's layout (NCHW or NHWC); the
     * array is reused by the next call.
     */
    public float[] preprocess(byte[] rgb, int height, int width) {
        last = Letterbox.of(height, width, meta.inputSize);
        return Preprocess.run(rgb, height, width, meta, meta.layout.equals("NHWC"), input);
    }

    /** Detections in the pixels of the frame last given to {@link #preprocess}. */
    public Detections postprocess(float[][] outputs, float scoreThr) {
        if (last == null) {
            throw new IllegalStateException("postprocess before preprocess: the letterbox of the frame is unknown");
        }
        return Decoder.decode(outputs, meta.decode, scoreThr, meta.inputSize).toOriginal(last);
    }
}
