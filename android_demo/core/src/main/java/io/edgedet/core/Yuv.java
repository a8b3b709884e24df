package io.edgedet.core;

/**
 * Camera frames ({@code ImageFormat.YUV_420_888}: a Y plane and 2x2-subsampled U and V planes, each with its own
 * row and pixel strides) -> interleaved RGB, and the rotation that turns a sensor frame upright.
 *
 * <p>Two BT.601 conversions, each OpenCV's to the bit: video range (Y in 16..235) as {@code COLOR_YUV2RGB_I420}
 * (20-bit fixed point), and full range (JFIF, what Android's camera HAL produces for YUV_420_888) as
 * {@code COLOR_YCrCb2RGB} (14-bit fixed point) on the 2x2-replicated chroma.
 */
public final class Yuv {
    private static final int SHIFT = 20;
    private static final int CY = 1220542;
    private static final int CUB = 2116026;
    private static final int CUG = -409993;
    private static final int CVG = -852492;
    private static final int CVR = 1673527;
    private static final int FULL_SHIFT = 14;
    private static final int FULL_CR_R = 22987;
    private static final int FULL_CR_G = -11698;
    private static final int FULL_CB_G = -5636;
    private static final int FULL_CB_B = 29049;

    private Yuv() {
    }

    /**
     * @param y Y plane, {@code yRowStride} bytes per row, pixel stride 1
     * @param u U (Cb) plane; {@code uvRowStride} and {@code uvPixelStride} (1 planar, 2 semi-planar) as the
     *     camera reports them, shared by U and V
     * @param fullRange true for full-range (JFIF) data, false for video range
     * @param out {@code width * height * 3} bytes (reused between frames), or null to allocate
     * @return interleaved RGB {@code [height, width, 3]}
     */
    public static byte[] toRgb(byte[] y, int yRowStride, byte[] u, byte[] v, int uvRowStride, int uvPixelStride,
                               int width, int height, boolean fullRange, byte[] out) {
        byte[] rgb = out != null ? out : new byte[width * height * 3];
        int half = 1 << (SHIFT - 1);
        int fullHalf = 1 << (FULL_SHIFT - 1);
        for (int row = 0; row < height; row++) {
            int uvRow = (row >> 1) * uvRowStride;
            for (int col = 0; col < width; col++) {
                int uvIndex = uvRow + (col >> 1) * uvPixelStride;
                int uu = (u[uvIndex] & 0xff) - 128;
                int vv = (v[uvIndex] & 0xff) - 128;
                int yy = y[row * yRowStride + col] & 0xff;
                int o = (row * width + col) * 3;
                if (fullRange) {
                    rgb[o] = clamp(yy + ((vv * FULL_CR_R + fullHalf) >> FULL_SHIFT));
                    rgb[o + 1] = clamp(yy + ((uu * FULL_CB_G + vv * FULL_CR_G + fullHalf) >> FULL_SHIFT));
                    rgb[o + 2] = clamp(yy + ((uu * FULL_CB_B + fullHalf) >> FULL_SHIFT));
                } else {
                    int luma = Math.max(0, yy - 16) * CY;
                    rgb[o] = clamp((luma + half + CVR * vv) >> SHIFT);
                    rgb[o + 1] = clamp((luma + half + CVG * vv + CUG * uu) >> SHIFT);
                    rgb[o + 2] = clamp((luma + half + CUB * uu) >> SHIFT);
                }
            }
        }
        return rgb;
    }

    private static byte clamp(int v) {
        return (byte) (v < 0 ? 0 : (v > 255 ? 255 : v));
    }

    /**
     * Rotates an interleaved 3-channel image clockwise by 0, 90, 180 or 270 degrees (the camera's sensor
     * orientation relative to the display); a 90 or 270 rotation swaps width and height.
     */
    public static byte[] rotate(byte[] image, int width, int height, int degrees) {
        if (degrees % 90 != 0) {
            throw new IllegalArgumentException("rotation must be a multiple of 90 degrees, got " + degrees);
        }
        int turns = ((degrees / 90) % 4 + 4) % 4;
        if (turns == 0) {
            return image;
        }
        byte[] out = new byte[image.length];
        int outW = turns == 2 ? width : height;
        for (int r = 0; r < height; r++) {
            for (int c = 0; c < width; c++) {
                int nr;
                int nc;
                if (turns == 1) {
                    nr = c;
                    nc = height - 1 - r;
                } else if (turns == 2) {
                    nr = height - 1 - r;
                    nc = width - 1 - c;
                } else {
                    nr = width - 1 - c;
                    nc = r;
                }
                System.arraycopy(image, (r * width + c) * 3, out, (nr * outW + nc) * 3, 3);
            }
        }
        return out;
    }
}
