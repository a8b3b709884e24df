package io.edgedet.core;

/**
 * How an image sits in the square model input: {@code input = orig * scale + (padX, padY)}
 * ({@code edgedet.deploy.preprocess.LetterboxInfo} / {@code letterbox_params}).
 */
public final class Letterbox {
    public final double scale;
    public final int padX;
    public final int padY;
    public final int newW;
    public final int newH;
    public final int origW;
    public final int origH;

    private Letterbox(int origH, int origW, int size) {
        this.origH = origH;
        this.origW = origW;
        scale = Math.min((double) size / origH, (double) size / origW);
        newW = (int) Math.rint(origW * scale);  // Python's round(): half to even, like rint
        newH = (int) Math.rint(origH * scale);
        padX = (size - newW) / 2;  // newW <= size: the same as Python's // here
        padY = (size - newH) / 2;
    }

    /** Scale and centred padding that fit an {@code origH x origW} image into {@code size x size}. */
    public static Letterbox of(int origH, int origW, int size) {
        if (origH <= 0 || origW <= 0 || size <= 0) {
            throw new IllegalArgumentException("letterbox needs positive sizes, got " + origW + "x" + origH + " -> " + size);
        }
        return new Letterbox(origH, origW, size);
    }

    /**
     * Boxes {@code [N, 4]} xyxy in model-input pixels (flat) -> original-image pixels, clipped to the image, in
     * float32 like {@code boxes_to_original}.
     */
    public float[] boxesToOriginal(float[] boxes) {
        float[] out = new float[boxes.length];
        float s = (float) scale;
        for (int i = 0; i < boxes.length; i++) {
            boolean isX = (i & 1) == 0;
            float v = (boxes[i] - (isX ? padX : padY)) / s;
            float hi = isX ? origW : origH;
            out[i] = v < 0 ? 0 : (v > hi ? hi : v);
        }
        return out;
    }
}
