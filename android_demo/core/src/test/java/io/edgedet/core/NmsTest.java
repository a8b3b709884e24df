package io.edgedet.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class NmsTest {
    @Test
    public void suppressesOnlyAboveTheThresholdWithinALabel() {
        // box 1 overlaps box 0 with IoU 0.5 exactly (kept at thr 0.5), box 2 with IoU 0.81 (suppressed),
        // box 3 is box 0 under another label (kept)
        float[] boxes = {0, 0, 10, 10, 0, 0, 10, 5, 0, 0, 10, 9, 0, 0, 10, 10};
        float[] scores = {0.9f, 0.5f, 0.8f, 0.7f};
        int[] labels = {0, 0, 0, 1};
        assertEquals(0.5, Nms.overlap(boxes, 0, 1), 1e-12);
        assertArrayEquals(new int[] {0, 3, 1}, Nms.batched(boxes, scores, labels, 0.5, 0));
        assertArrayEquals(new int[] {0, 3}, Nms.batched(boxes, scores, labels, 0.5, 2));
        assertArrayEquals(new int[] {0, 3}, Nms.batched(boxes, scores, labels, 0.49, 0));
    }

    @Test
    public void tiesKeepInputOrderAndEmptyInputGivesNothing() {
        float[] boxes = {0, 0, 1, 1, 5, 5, 6, 6, 9, 9, 10, 10};
        assertArrayEquals(new int[] {1, 0, 2}, Nms.batched(boxes, new float[] {0.5f, 0.6f, 0.5f}, new int[3], 0.5, 0));
        assertEquals(0, Nms.batched(new float[0], new float[0], new int[0], 0.5, 10).length);
    }
}
