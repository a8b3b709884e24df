package io.edgedet.core;

/**
 * (dx, dy, dw, dh) deltas relative to xyxy priors -> xyxy boxes ({@code decode_deltas_xyxy}): {@code d = raw * stds
 * + means}, dw and dh clamped to {@code wh_clamp}; the spec's constants, float32 arithmetic.
 */
final class DeltaCoder {
    private final float[] means = new float[4];
    private final float[] stds = new float[4];
    private final float clamp;

    DeltaCoder(JsonFields spec) {
        double[] m = spec.numbers("means", new double[] {0, 0, 0, 0});
        double[] s = spec.numbers("stds", new double[] {1, 1, 1, 1});
        if (m.length != 4 || s.length != 4) {
            throw new IllegalArgumentException(spec.path() + ".means and .stds must hold 4 numbers");
        }
        for (int i = 0; i < 4; i++) {
            means[i] = (float) m[i];
            stds[i] = (float) s[i];
        }
        clamp = (float) spec.number("wh_clamp", Math.abs(Math.log(16.0 / 1000.0)));
    }

    /** Box {@code out[j]} from prior {@code priors[a]} and deltas {@code deltas[r]} (rows of 4). */
    void decode(float[] priors, int a, float[] deltas, int r, float[] out, int j) {
        float d0 = deltas[r * 4] * stds[0] + means[0];
        float d1 = deltas[r * 4 + 1] * stds[1] + means[1];
        float d2 = Math.min(Math.max(deltas[r * 4 + 2] * stds[2] + means[2], -clamp), clamp);
        float d3 = Math.min(Math.max(deltas[r * 4 + 3] * stds[3] + means[3], -clamp), clamp);
        float pw = priors[a * 4 + 2] - priors[a * 4];
        float ph = priors[a * 4 + 3] - priors[a * 4 + 1];
        float px = priors[a * 4] + 0.5f * pw;
        float py = priors[a * 4 + 1] + 0.5f * ph;
        float gx = px + d0 * pw;
        float gy = py + d1 * ph;
        float gw = pw * (float) Math.exp(d2);
        float gh = ph * (float) Math.exp(d3);
        out[j * 4] = gx - 0.5f * gw;
        out[j * 4 + 1] = gy - 0.5f * gh;
        out[j * 4 + 2] = gx + 0.5f * gw;
        out[j * 4 + 3] = gy + 0.5f * gh;
    }
}
