package io.edgedet.core;

/**
 * OpenCV's {@code cv2.resize} for 3-channel uint8 images, reproduced so that the phone sees the pixels that
 * {@code edgedet.deploy.preprocess.letterbox} gives on the host: {@code INTER_AREA} when shrinking (integer factors
 * take OpenCV's fast block average, other factors its weighted area sum) and {@code INTER_LINEAR} when
 * enlarging (OpenCV's 11-bit fixed-point bilinear). Images are interleaved {@code [H, W, 3]} byte arrays.
 */
public final class Resize {
    private static final int COEF_BITS = 11;
    private static final int COEF_SCALE = 1 << COEF_BITS;
    private static final double DBL_EPSILON = 2.220446049250313e-16;

    private Resize() {
    }

    /** The letterbox rule: {@code INTER_AREA} when the scale is below 1, {@code INTER_LINEAR} otherwise. */
    public static byte[] letterboxResize(byte[] src, int srcH, int srcW, int dstH, int dstW, boolean shrinking) {
        if (dstH == srcH && dstW == srcW) {
            return src.clone();
        }
        double scaleX = 1.0 / ((double) dstW / srcW);
        double scaleY = 1.0 / ((double) dstH / srcH);
        if (shrinking && scaleX >= 1 && scaleY >= 1) {
            int ix = (int) Math.rint(scaleX);
            int iy = (int) Math.rint(scaleY);
            if (Math.abs(scaleX - ix) < DBL_EPSILON && Math.abs(scaleY - iy) < DBL_EPSILON) {
                return areaInteger(src, srcW, dstH, dstW, ix, iy);
            }
            return areaFractional(src, srcH, srcW, dstH, dstW, scaleX, scaleY);
        }
        return linear(src, srcH, srcW, dstH, dstW, scaleX, scaleY);
    }

    /** Block average over {@code ix x iy} source pixels (OpenCV {@code resizeAreaFast}). */
    static byte[] areaInteger(byte[] src, int srcW, int dstH, int dstW, int ix, int iy) {
        byte[] dst = new byte[dstH * dstW * 3];
        int area = ix * iy;
        float inv = 1.0f / area;
        for (int y = 0; y < dstH; y++) {
            for (int x = 0; x < dstW; x++) {
                for (int c = 0; c < 3; c++) {
                    int sum = 0;
                    for (int dy = 0; dy < iy; dy++) {
                        int row = ((y * iy + dy) * srcW + x * ix) * 3 + c;
                        for (int dx = 0; dx < ix; dx++) {
                            sum += src[row + dx * 3] & 0xff;
                        }
                    }
                    int v = (ix == 2 && iy == 2) ? (sum + 2) >> 2 : (int) Math.rint(sum * inv);
                    dst[(y * dstW + x) * 3 + c] = (byte) Math.min(255, v);
                }
            }
        }
        return dst;
    }

    /** One axis of OpenCV's {@code computeResizeAreaTab}: per output index, (source index, weight) pairs. */
    private static int areaTable(int ssize, int dsize, double scale, int[] di, int[] si, float[] alpha) {
        int k = 0;
        for (int dx = 0; dx < dsize; dx++) {
            double fsx1 = dx * scale;
            double fsx2 = fsx1 + scale;
            double cellWidth = Math.min(scale, ssize - fsx1);
            int sx1 = (int) Math.ceil(fsx1);
            int sx2 = (int) Math.floor(fsx2);
            sx2 = Math.min(sx2, ssize - 1);
            sx1 = Math.min(sx1, sx2);
            if (sx1 - fsx1 > 1e-3) {
                di[k] = dx;
                si[k] = sx1 - 1;
                alpha[k++] = (float) ((sx1 - fsx1) / cellWidth);
            }
            for (int sx = sx1; sx < sx2; sx++) {
                di[k] = dx;
                si[k] = sx;
                alpha[k++] = (float) (1.0 / cellWidth);
            }
            if (fsx2 - sx2 > 1e-3) {
                di[k] = dx;
                si[k] = sx2;
                alpha[k++] = (float) (Math.min(Math.min(fsx2 - sx2, 1.0), cellWidth) / cellWidth);
            }
        }
        return k;
    }

    /** Weighted area sum for non-integer factors (OpenCV {@code resizeArea_<uchar, float>}). */
    static byte[] areaFractional(byte[] src, int srcH, int srcW, int dstH, int dstW, double scaleX, double scaleY) {
        int[] xdi = new int[srcW * 2 + 2];
        int[] xsi = new int[srcW * 2 + 2];
        float[] xa = new float[srcW * 2 + 2];
        int xn = areaTable(srcW, dstW, scaleX, xdi, xsi, xa);
        int[] ydi = new int[srcH * 2 + 2];
        int[] ysi = new int[srcH * 2 + 2];
        float[] ya = new float[srcH * 2 + 2];
        int yn = areaTable(srcH, dstH, scaleY, ydi, ysi, ya);
        int w3 = dstW * 3;
        float[] buf = new float[w3];
        float[] sum = new float[w3];
        byte[] dst = new byte[dstH * w3];
        int prevDy = ydi[0];
        for (int j = 0; j < yn; j++) {
            int dy = ydi[j];
            float beta = ya[j];
            int rowStart = ysi[j] * srcW * 3;
            java.util.Arrays.fill(buf, 0f);
            for (int k = 0; k < xn; k++) {
                int d = xdi[k] * 3;
                int s = rowStart + xsi[k] * 3;
                float a = xa[k];
                buf[d] += (src[s] & 0xff) * a;
                buf[d + 1] += (src[s + 1] & 0xff) * a;
                buf[d + 2] += (src[s + 2] & 0xff) * a;
            }
            if (dy != prevDy) {
                storeRow(dst, prevDy * w3, sum);
                for (int x = 0; x < w3; x++) {
                    sum[x] = beta * buf[x];
                }
                prevDy = dy;
            } else {
                for (int x = 0; x < w3; x++) {
                    sum[x] += beta * buf[x];
                }
            }
        }
        storeRow(dst, prevDy * w3, sum);
        return dst;
    }

    private static void storeRow(byte[] dst, int offset, float[] sum) {
        for (int x = 0; x < sum.length; x++) {
            dst[offset + x] = (byte) saturate((int) Math.rint(sum[x]));
        }
    }

    private static int saturate(int v) {
        return v < 0 ? 0 : (v > 255 ? 255 : v);
    }

    /** Source index and 11-bit weights of one axis (OpenCV {@code INTER_LINEAR} coefficient tables). */
    private static void linearTable(int ssize, int dsize, double scale, int[] index, int[] w0, int[] w1) {
        for (int d = 0; d < dsize; d++) {
            float f = (float) ((d + 0.5) * scale - 0.5);
            int s = (int) Math.floor(f);
            f -= s;
            if (s < 0) {
                f = 0;
                s = 0;
            }
            if (s >= ssize - 1) {
                f = 0;
                s = ssize - 1;
            }
            index[d] = s;
            w0[d] = (int) Math.rint((1.0f - f) * COEF_SCALE);
            w1[d] = (int) Math.rint(f * COEF_SCALE);
        }
    }

    /** Fixed-point bilinear (OpenCV {@code resize} {@code INTER_LINEAR} on uint8, its SIMD rounding). */
    static byte[] linear(byte[] src, int srcH, int srcW, int dstH, int dstW, double scaleX, double scaleY) {
        int[] xi = new int[dstW];
        int[] xw0 = new int[dstW];
        int[] xw1 = new int[dstW];
        linearTable(srcW, dstW, scaleX, xi, xw0, xw1);
        int[] yi = new int[dstH];
        int[] yw0 = new int[dstH];
        int[] yw1 = new int[dstH];
        for (int y = 0; y < dstH; y++) {
            // rows are not clamped like columns: above the top and below the bottom both taps read the edge row
            float f = (float) ((y + 0.5) * scaleY - 0.5);
            int s = (int) Math.floor(f);
            f -= s;
            yi[y] = s;
            yw0[y] = (int) Math.rint((1.0f - f) * COEF_SCALE);
            yw1[y] = (int) Math.rint(f * COEF_SCALE);
        }
        int w3 = dstW * 3;
        int[][] rows = new int[srcH][];
        byte[] dst = new byte[dstH * w3];
        for (int y = 0; y < dstH; y++) {
            int s0 = Math.min(Math.max(yi[y], 0), srcH - 1);
            int s1 = Math.min(Math.max(yi[y] + 1, 0), srcH - 1);
            int[] r0 = horizontal(rows, src, s0, srcW, xi, xw0, xw1);
            int[] r1 = horizontal(rows, src, s1, srcW, xi, xw0, xw1);
            // 16-bit products of the vector path: (((r >> 4) * w) >> 16) summed, then (+2) >> 2
            for (int x = 0; x < w3; x++) {
                int v = (((r0[x] >> 4) * yw0[y]) >> 16) + (((r1[x] >> 4) * yw1[y]) >> 16);
                dst[y * w3 + x] = (byte) saturate((v + 2) >> 2);
            }
        }
        return dst;
    }

    private static int[] horizontal(int[][] cache, byte[] src, int row, int srcW, int[] xi, int[] w0, int[] w1) {
        if (cache[row] != null) {
            return cache[row];
        }
        int[] out = new int[xi.length * 3];
        int base = row * srcW * 3;
        for (int x = 0; x < xi.length; x++) {
            int s0 = base + xi[x] * 3;
            int s1 = base + Math.min(xi[x] + 1, srcW - 1) * 3;
            for (int c = 0; c < 3; c++) {
                out[x * 3 + c] = (src[s0 + c] & 0xff) * w0[x] + (src[s1 + c] & 0xff) * w1[x];
            }
        }
        cache[row] = out;
        return out;
    }
}
