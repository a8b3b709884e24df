package io.edgedet.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;

/**
 * Raw model outputs -> detections in model-input pixels, for every decode type of
 * {@code edgedet.runtime.decode}: {@code topk_boxes}, {@code anchor_deltas}, {@code anchor_ltrb},
 * {@code two_stage}. Every constant comes from the decode spec of {@code edgedet.json}; arithmetic is float32 in
 * the runtime's order so the results agree with it to float rounding. One image (batch 1).
 */
public final class Decoder {
    private Decoder() {
    }

    /**
     * @param outputs the model's outputs in {@code edgedet.json} order, each flattened (batch 1)
     * @param spec {@code edgedet.json["decode"]}
     * @param scoreThr keep scores strictly above this
     * @param imgsz model input side (anchor and two-stage boxes are clipped to it when {@code clip_to_input})
     */
    public static Detections decode(float[][] outputs, JsonFields spec, float scoreThr, int imgsz) {
        String type = spec.string("type");
        if (type.equals("topk_boxes")) {
            return topkBoxes(outputs, spec, scoreThr);
        }
        if (type.equals("anchor_deltas") || type.equals("anchor_ltrb")) {
            return anchors(outputs, spec, scoreThr, imgsz);
        }
        if (type.equals("two_stage")) {
            return twoStage(outputs, spec, scoreThr, imgsz);
        }
        throw new IllegalArgumentException("unknown decode type '" + type + "'; this app decodes [anchor_deltas, "
                + "anchor_ltrb, topk_boxes, two_stage]: update the app or re-export the model");
    }

    /** The numerically stable logistic function of the runtime. */
    public static float sigmoid(float x) {
        float e = (float) Math.exp(-Math.abs(x));
        return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }

    private static void need(float[][] outputs, int n, String what) {
        if (outputs.length < n) {
            throw new IllegalArgumentException("decode needs outputs " + what + ", got " + outputs.length + " outputs");
        }
    }

    static Detections topkBoxes(float[][] outputs, JsonFields spec, float scoreThr) {
        need(outputs, 3, "(boxes, scores, labels)");
        float[] boxes = outputs[0];
        float[] scores = outputs[1];
        float[] labels = outputs[2];
        if (boxes.length != scores.length * 4 || labels.length != scores.length) {
            throw new IllegalArgumentException("topk_boxes outputs must be boxes [1, K, 4], scores [1, K], labels [1, K]");
        }
        List<Integer> keep = new ArrayList<Integer>();
        for (int i = 0; i < scores.length; i++) {
            if (scores[i] > scoreThr) {
                keep.add(i);
            }
        }
        float[] b = new float[keep.size() * 4];
        float[] s = new float[keep.size()];
        int[] l = new int[keep.size()];
        for (int i = 0; i < s.length; i++) {
            int k = keep.get(i);
            System.arraycopy(boxes, k * 4, b, i * 4, 4);
            s[i] = scores[k];
            l[i] = (int) Math.rint(labels[k]);
        }
        Detections all = new Detections(b, s, l);
        return all.select(Nms.batched(b, s, l, spec.number("dedup_iou", 0.7), 0));
    }

    static Detections anchors(float[][] outputs, JsonFields spec, float scoreThr, int imgsz) {
        int c = spec.integer("num_classes");
        Priors priors = Priors.fromSpec(spec.object("priors"));
        int p = priors.count();
        String quality = spec.string("quality", "none");
        boolean withQuality = !quality.equals("none");
        need(outputs, withQuality ? 3 : 2, withQuality ? "(cls, reg, quality)" : "(cls, reg)");
        float[] cls = outputs[0];
        float[] reg = outputs[1];
        float[] qual = withQuality ? outputs[2] : null;
        if (cls.length != p * c || reg.length != p * 4 || (qual != null && qual.length != p)) {
            throw new IllegalArgumentException("anchor outputs must be cls [1, " + p + ", " + c + "], reg [1, " + p
                    + ", 4]" + (qual != null ? ", quality [1, " + p + ", 1]" : "") + " for these priors");
        }
        // as edgedet.deploy.decode_spec.dense_scores: "iou" (Dynamic ATSS) thresholds the class probability and
        // scores sqrt(cls * iou); "centerness" scores and thresholds cls * centerness; "none" the class probability
        final float[] scores = new float[p * c];
        final boolean[] passes = new boolean[p * c];
        boolean geometric = quality.equals("iou");
        for (int i = 0; i < scores.length; i++) {
            float prob = sigmoid(cls[i]);
            float product = qual == null ? prob : prob * sigmoid(qual[i / c]);
            scores[i] = geometric ? (float) Math.sqrt(product) : product;
            passes[i] = (geometric ? prob : product) > scoreThr;
        }
        int topK = spec.integer("nms_pre", 1000);
        List<Integer> cands = new ArrayList<Integer>();
        int start = 0;
        for (int n : priors.levelCounts) {
            List<Integer> level = new ArrayList<Integer>();
            for (int i = start * c; i < (start + n) * c; i++) {
                if (passes[i]) {
                    level.add(i);
                }
            }
            if (level.size() > topK) {
                sortByScoreDescending(level, scores);
                level = level.subList(0, topK);
            }
            cands.addAll(level);
            start += n;
        }
        int k = cands.size();
        float[] boxes = new float[k * 4];
        float[] kept = new float[k];
        int[] labels = new int[k];
        boolean deltas = spec.string("type").equals("anchor_deltas");
        Object norm = spec.raw("normalizer");
        boolean byStride = norm == null || "stride".equals(norm);
        float normalizer = byStride ? 0f : (float) spec.number("normalizer");
        boolean clampNegative = spec.bool("clamp_negative", true);
        DeltaCoder coder = deltas ? new DeltaCoder(spec) : null;
        for (int j = 0; j < k; j++) {
            int a = cands.get(j) / c;
            labels[j] = cands.get(j) % c;
            kept[j] = scores[cands.get(j)];
            if (deltas) {
                coder.decode(priors.boxes, a, reg, a, boxes, j);
            } else {
                decodeLtrb(priors.boxes, a, reg, byStride ? priors.strides[a] : normalizer, clampNegative, boxes, j);
            }
        }
        if (spec.bool("clip_to_input", true)) {
            clip(boxes, imgsz);
        }
        int[] keep = Nms.batched(boxes, kept, labels, spec.number("nms_iou", 0.5), spec.integer("max_det", 100));
        return new Detections(boxes, kept, labels).select(keep);
    }

    private static void sortByScoreDescending(List<Integer> idx, final float[] scores) {
        Collections.sort(idx, new Comparator<Integer>() {  // stable: ties keep index order like argsort(stable)
            @Override
            public int compare(Integer a, Integer b) {
                return Float.compare(scores[b], scores[a]);
            }
        });
    }

    /** (l, t, r, b) distances from the prior's centre times {@code scale} -> xyxy ({@code decode_ltrb_xyxy}). */
    static void decodeLtrb(float[] priors, int a, float[] ltrb, float scale, boolean clampNegative, float[] out,
                           int j) {
        float cx = (priors[a * 4] + priors[a * 4 + 2]) / 2;
        float cy = (priors[a * 4 + 1] + priors[a * 4 + 3]) / 2;
        float[] d = new float[4];
        for (int i = 0; i < 4; i++) {
            d[i] = ltrb[a * 4 + i] * scale;
            if (clampNegative) {
                d[i] = Math.max(d[i], 0f);
            }
        }
        out[j * 4] = cx - d[0];
        out[j * 4 + 1] = cy - d[1];
        out[j * 4 + 2] = cx + d[2];
        out[j * 4 + 3] = cy + d[3];
    }

    static void clip(float[] boxes, int imgsz) {
        for (int i = 0; i < boxes.length; i++) {
            boxes[i] = Math.min(Math.max(boxes[i], 0f), (float) imgsz);
        }
    }

    static Detections twoStage(float[][] outputs, JsonFields spec, float scoreThr, int imgsz) {
        int c = spec.integer("num_classes");
        int[] counts = spec.integers("level_counts");
        need(outputs, 4, "(proposals, objectness, cls_logits, box_deltas)");
        int n = 0;
        for (int cnt : counts) {
            n += cnt;
        }
        float[] props = outputs[0];
        float[] obj = outputs[1];
        float[] cls = outputs[2];
        float[] reg = outputs[3];
        if (props.length != n * 4 || obj.length != n || cls.length != n * (c + 1) || reg.length != n * 4 * c) {
            throw new IllegalArgumentException("two_stage outputs must be proposals [1, " + n + ", 4], objectness [1, "
                    + n + "], cls_logits [1, " + n + ", " + (c + 1) + "], box_deltas [1, " + n + ", " + 4 * c
                    + "] for level_counts " + Arrays.toString(counts));
        }
        int[] rows = rpnSurvivors(props, obj, counts, spec);
        DeltaCoder coder = new DeltaCoder(spec);
        boolean clipToInput = spec.bool("clip_to_input", true);
        List<Integer> keepRow = new ArrayList<Integer>();
        List<Integer> keepLabel = new ArrayList<Integer>();
        List<Float> keepScore = new ArrayList<Float>();
        List<float[]> keepBox = new ArrayList<float[]>();
        float[] box = new float[4];
        float[] e = new float[c + 1];
        for (int r : rows) {
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j <= c; j++) {
                max = Math.max(max, cls[r * (c + 1) + j]);
            }
            float sum = 0f;
            for (int j = 0; j <= c; j++) {
                e[j] = (float) Math.exp(cls[r * (c + 1) + j] - max);
                sum += e[j];
            }
            for (int label = 0; label < c; label++) {  // background is last: dropped
                float score = e[label] / sum;
                if (!(score > scoreThr)) {
                    continue;
                }
                coder.decode(props, r, reg, r * c + label, box, 0);
                if (clipToInput) {
                    clip(box, imgsz);
                }
                keepRow.add(r);
                keepLabel.add(label);
                keepScore.add(score);
                keepBox.add(box.clone());
            }
        }
        int k = keepRow.size();
        float[] boxes = new float[k * 4];
        float[] scores = new float[k];
        int[] labels = new int[k];
        for (int j = 0; j < k; j++) {
            System.arraycopy(keepBox.get(j), 0, boxes, j * 4, 4);
            scores[j] = keepScore.get(j);
            labels[j] = keepLabel.get(j);
        }
        int[] keep = Nms.batched(boxes, scores, labels, spec.number("nms_iou", 0.5), spec.integer("max_det", 100));
        return new Detections(boxes, scores, labels).select(keep);
    }

    /** Rows kept by the RPN: size filter, NMS per level, the best {@code rpn_max_test} ({@code _rpn_survivors}). */
    static int[] rpnSurvivors(float[] props, float[] obj, int[] counts, JsonFields spec) {
        float minSize = (float) spec.number("rpn_min_size", 1e-3);
        List<Integer> rows = new ArrayList<Integer>();
        List<Integer> levels = new ArrayList<Integer>();
        int row = 0;
        for (int level = 0; level < counts.length; level++) {
            for (int i = 0; i < counts[level]; i++, row++) {
                float w = props[row * 4 + 2] - props[row * 4];
                float h = props[row * 4 + 3] - props[row * 4 + 1];
                if (w >= minSize && h >= minSize) {
                    rows.add(row);
                    levels.add(level);
                }
            }
        }
        float[] b = new float[rows.size() * 4];
        float[] s = new float[rows.size()];
        int[] l = new int[rows.size()];
        for (int i = 0; i < s.length; i++) {
            System.arraycopy(props, rows.get(i) * 4, b, i * 4, 4);
            s[i] = sigmoid(obj[rows.get(i)]);
            l[i] = levels.get(i);
        }
        int[] keep = Nms.batched(b, s, l, spec.number("rpn_nms_iou"), spec.integer("rpn_max_test"));
        int[] out = new int[keep.length];
        for (int i = 0; i < keep.length; i++) {
            out[i] = rows.get(keep[i]);
        }
        return out;
    }
}
