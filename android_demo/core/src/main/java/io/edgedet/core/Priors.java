package io.edgedet.core;

import java.util.List;

/**
 * The dense heads' priors ({@code grid_priors_xyxy}): per level, rows ordered (y, x, anchor); the prior of
 * {@code (level, y, x, a)} is {@code base_anchors[level][a] + (cx, cy, cx, cy)}, {@code cx = (x + center_offset) *
 * stride}; {@code grid_points} priors are zero-size points.
 */
final class Priors {
    /** {@code [P, 4]} xyxy, flat. */
    final float[] boxes;
    /** {@code [P]}: each prior's level stride. */
    final float[] strides;
    final int[] levelCounts;

    private Priors(float[] boxes, float[] strides, int[] levelCounts) {
        this.boxes = boxes;
        this.strides = strides;
        this.levelCounts = levelCounts;
    }

    int count() {
        return strides.length;
    }

    static Priors fromSpec(JsonFields spec) {
        String kind = spec.string("type");
        boolean anchors = kind.equals("grid_anchors");
        if (!anchors && !kind.equals("grid_points")) {
            throw new IllegalArgumentException("unknown prior type '" + kind + "'; expected grid_anchors or grid_points");
        }
        float off = (float) spec.number("center_offset", 0.5);
        double[] strides = spec.numbers("strides");
        List<Object> sizes = spec.list("feat_sizes");
        List<Object> base = anchors ? spec.list("base_anchors") : null;
        if (sizes.size() != strides.length || (base != null && base.size() != strides.length)) {
            throw new IllegalArgumentException(spec.path() + ": strides, feat_sizes and base_anchors differ in length");
        }
        int[] counts = new int[strides.length];
        float[][] bases = new float[strides.length][];
        int total = 0;
        for (int lvl = 0; lvl < strides.length; lvl++) {
            int[] hw = ints(sizes.get(lvl), spec.path() + ".feat_sizes");
            bases[lvl] = anchors ? flatFloats(base.get(lvl), spec.path() + ".base_anchors") : new float[4];
            counts[lvl] = hw[0] * hw[1] * (bases[lvl].length / 4);
            total += counts[lvl];
        }
        float[] boxes = new float[total * 4];
        float[] perPrior = new float[total];
        int i = 0;
        for (int lvl = 0; lvl < strides.length; lvl++) {
            int[] hw = ints(sizes.get(lvl), spec.path() + ".feat_sizes");
            float stride = (float) strides[lvl];
            int numAnchors = bases[lvl].length / 4;
            for (int y = 0; y < hw[0]; y++) {
                float cy = ((float) y + off) * stride;
                for (int x = 0; x < hw[1]; x++) {
                    float cx = ((float) x + off) * stride;
                    for (int a = 0; a < numAnchors; a++, i++) {
                        boxes[i * 4] = cx + bases[lvl][a * 4];
                        boxes[i * 4 + 1] = cy + bases[lvl][a * 4 + 1];
                        boxes[i * 4 + 2] = cx + bases[lvl][a * 4 + 2];
                        boxes[i * 4 + 3] = cy + bases[lvl][a * 4 + 3];
                        perPrior[i] = stride;
                    }
                }
            }
        }
        return new Priors(boxes, perPrior, counts);
    }

    private static int[] ints(Object value, String path) {
        float[] f = flatFloats(value, path);
        if (f.length != 2) {
            throw new IllegalArgumentException(path + " entries must be [h, w]");
        }
        return new int[] {(int) f[0], (int) f[1]};
    }

    /** A nested list of numbers, flattened row by row. */
    private static float[] flatFloats(Object value, String path) {
        java.util.ArrayList<Float> out = new java.util.ArrayList<Float>();
        flatten(value, out, path);
        float[] f = new float[out.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = out.get(i);
        }
        if (f.length % 2 != 0) {
            throw new IllegalArgumentException(path + " has an odd number of values");
        }
        return f;
    }

    private static void flatten(Object value, List<Float> out, String path) {
        if (value instanceof Double) {
            out.add((float) (double) (Double) value);
        } else if (value instanceof List) {
            for (Object v : (List<?>) value) {
                flatten(v, out, path);
            }
        } else {
            throw new IllegalArgumentException(path + " must hold numbers");
        }
    }
}
