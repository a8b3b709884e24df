package io.edgedet.core;

/**
 * {@code edgedet.deploy.preprocess.preprocess_bgr} in Java: letterbox (aspect kept, centred, padded with the file's
 * pad value) with OpenCV's resize ({@link Resize}), then {@code (x * scale - mean) / std} per RGB channel with the
 * constants of {@code edgedet.json}.
 */
public final class Preprocess {
    private Preprocess() {
    }

    /** The letterboxed uint8 RGB canvas {@code [S, S, 3]} of an interleaved RGB image {@code [h, w, 3]}. */
    public static byte[] letterboxRgb(byte[] rgb, int h, int w, int size, int padValue, Letterbox lb) {
        if (rgb.length != h * w * 3) {
            throw new IllegalArgumentException("image of " + rgb.length + " bytes is not " + h + "x" + w + "x3");
        }
        byte[] resized = Resize.letterboxResize(rgb, h, w, lb.newH, lb.newW, lb.scale < 1);
        byte[] canvas = new byte[size * size * 3];
        java.util.Arrays.fill(canvas, (byte) padValue);
        for (int y = 0; y < lb.newH; y++) {
            System.arraycopy(resized, y * lb.newW * 3, canvas, ((y + lb.padY) * size + lb.padX) * 3, lb.newW * 3);
        }
        return canvas;
    }

    /**
     * RGB image -> normalised float32 model input, {@code [1, 3, S, S]} (NCHW) or {@code [1, S, S, 3]} (NHWC).
     *
     * @param rgb interleaved uint8 RGB {@code [h, w, 3]}
     * @param out destination of {@code 3 * S * S} floats (reused between frames), or null to allocate
     */
    public static float[] run(byte[] rgb, int h, int w, Metadata meta, boolean nhwc, float[] out) {
        int s = meta.inputSize;
        Letterbox lb = Letterbox.of(h, w, s);
        byte[] canvas = letterboxRgb(rgb, h, w, s, meta.padValue, lb);
        float[] x = out != null ? out : new float[3 * s * s];
        int plane = s * s;
        for (int i = 0; i < plane; i++) {
            for (int c = 0; c < 3; c++) {
                float v = ((canvas[i * 3 + c] & 0xff) * meta.scale - meta.mean[c]) / meta.std[c];
                x[nhwc ? i * 3 + c : c * plane + i] = v;
            }
        }
        return x;
    }

    /** Swaps the first and third channel of an interleaved 3-channel image (BGR <-> RGB), in a new array. */
    public static byte[] swapRedBlue(byte[] image) {
        byte[] out = new byte[image.length];
        for (int i = 0; i + 2 < image.length; i += 3) {
            out[i] = image[i + 2];
            out[i + 1] = image[i + 1];
            out[i + 2] = image[i];
        }
        return out;
    }
}
