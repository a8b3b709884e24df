package io.edgedet.core;

/** Detections of one image: {@code boxes [N, 4]} xyxy (flat), {@code scores [N]} descending, {@code labels [N]}. */
public final class Detections {
    public final float[] boxes;
    public final float[] scores;
    public final int[] labels;

    public Detections(float[] boxes, float[] scores, int[] labels) {
        if (boxes.length != scores.length * 4 || labels.length != scores.length) {
            throw new IllegalArgumentException("boxes " + boxes.length + ", scores " + scores.length + ", labels "
                    + labels.length + " do not describe the same N detections");
        }
        this.boxes = boxes;
        this.scores = scores;
        this.labels = labels;
    }

    public int size() {
        return scores.length;
    }

    /** The same detections with boxes mapped from model-input pixels to the original image. */
    public Detections toOriginal(Letterbox lb) {
        return new Detections(lb.boxesToOriginal(boxes), scores, labels);
    }

    /** The detections at {@code keep} (indices into this), in that order. */
    Detections select(int[] keep) {
        float[] b = new float[keep.length * 4];
        float[] s = new float[keep.length];
        int[] l = new int[keep.length];
        for (int i = 0; i < keep.length; i++) {
            System.arraycopy(boxes, keep[i] * 4, b, i * 4, 4);
            s[i] = scores[keep[i]];
            l[i] = labels[keep[i]];
        }
        return new Detections(b, s, l);
    }
}
