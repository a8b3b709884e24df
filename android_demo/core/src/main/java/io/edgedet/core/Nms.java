package io.edgedet.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Class-wise non-maximum suppression as {@code edgedet.runtime.nms.batched_nms_xyxy} does it (OpenCV's
 * {@code NMSBoxesBatched}): candidates in descending score (ties keep input order); a box is suppressed when its
 * IoU (continuous areas, no +1) with a kept box of the same label is strictly greater than the threshold.
 */
public final class Nms {
    private static final double DBL_EPSILON = 2.220446049250313e-16;

    private Nms() {
    }

    /**
     * Indices of the kept boxes, in descending score.
     *
     * @param boxes {@code [N, 4]} xyxy, flat
     * @param maxDet keep at most this many (0 = all)
     */
    public static int[] batched(float[] boxes, final float[] scores, int[] labels, double iouThr, int maxDet) {
        int n = scores.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, new Comparator<Integer>() {  // a stable merge sort: ties keep index order
            @Override
            public int compare(Integer a, Integer b) {
                return Float.compare(scores[b], scores[a]);
            }
        });
        List<Integer> kept = new ArrayList<Integer>();
        for (int i = 0; i < n && (maxDet <= 0 || kept.size() < maxDet); i++) {
            int cand = order[i];
            boolean keep = true;
            for (int k : kept) {
                if (labels[k] == labels[cand] && overlap(boxes, cand, k) > iouThr) {
                    keep = false;
                    break;
                }
            }
            if (keep) {
                kept.add(cand);
            }
        }
        int[] out = new int[kept.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = kept.get(i);
        }
        return out;
    }

    /** OpenCV's {@code rectOverlap} of boxes {@code i} and {@code j}: two empty boxes overlap fully. */
    static double overlap(float[] b, int i, int j) {
        double ax = b[i * 4], ay = b[i * 4 + 1], aw = (double) b[i * 4 + 2] - ax, ah = (double) b[i * 4 + 3] - ay;
        double bx = b[j * 4], by = b[j * 4 + 1], bw = (double) b[j * 4 + 2] - bx, bh = (double) b[j * 4 + 3] - by;
        double areaA = aw * ah;
        double areaB = bw * bh;
        if (areaA + areaB <= DBL_EPSILON) {
            return 1.0;
        }
        double x1 = Math.max(ax, bx), y1 = Math.max(ay, by);
        double iw = Math.min(ax + aw, bx + bw) - x1, ih = Math.min(ay + ah, by + bh) - y1;
        double inter = (iw <= 0 || ih <= 0) ? 0.0 : iw * ih;
        return inter / (areaA + areaB - inter);
    }
}
