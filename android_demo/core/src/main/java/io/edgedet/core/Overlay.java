package io.edgedet.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The drawing model of the camera overlay, free of Android types: where each box goes on the view, its label
 * text and colour, and a frames-per-second meter. The app's view only strokes what this returns.
 */
public final class Overlay {
    /** One box to draw, in view pixels. */
    public static final class Item {
        public final float left;
        public final float top;
        public final float right;
        public final float bottom;
        public final String text;
        /** ARGB. */
        public final int color;

        Item(float left, float top, float right, float bottom, String text, int color) {
            this.left = left;
            this.top = top;
            this.right = right;
            this.bottom = bottom;
            this.text = text;
            this.color = color;
        }
    }

    private static final int[] PALETTE = {
        0xFFE6194B, 0xFF3CB44B, 0xFFFFE119, 0xFF4363D8, 0xFFF58231, 0xFF911EB4, 0xFF46F0F0, 0xFFF032E6,
        0xFFBCF60C, 0xFFFABEBE, 0xFF008080, 0xFFE6BEFF, 0xFF9A6324, 0xFFFFFAC8, 0xFF800000, 0xFFAAFFC3,
    };

    private Overlay() {
    }

    /** A colour per class id, stable across frames. */
    public static int colorOf(int label) {
        return PALETTE[((label % PALETTE.length) + PALETTE.length) % PALETTE.length];
    }

    /**
     * Boxes of an upright {@code frameW x frameH} frame mapped onto a {@code viewW x viewH} view that shows the
     * frame scaled uniformly and centred: {@code fill} crops the overflow (like a centre-cropped preview),
     * otherwise the frame fits inside with bars.
     */
    public static List<Item> layout(Detections dets, String[] classNames, int frameW, int frameH, int viewW,
                                    int viewH, boolean fill) {
        float sx = (float) viewW / frameW;
        float sy = (float) viewH / frameH;
        float s = fill ? Math.max(sx, sy) : Math.min(sx, sy);
        float ox = (viewW - frameW * s) / 2;
        float oy = (viewH - frameH * s) / 2;
        List<Item> items = new ArrayList<Item>(dets.size());
        for (int i = 0; i < dets.size(); i++) {
            int label = dets.labels[i];
            String name = label >= 0 && label < classNames.length ? classNames[label] : "class " + label;
            String text = String.format(Locale.US, "%s %.2f", name, dets.scores[i]);
            items.add(new Item(ox + dets.boxes[i * 4] * s, oy + dets.boxes[i * 4 + 1] * s,
                    ox + dets.boxes[i * 4 + 2] * s, oy + dets.boxes[i * 4 + 3] * s, text, colorOf(label)));
        }
        return items;
    }

    /** Frames per second over a sliding window of frame times. */
    public static final class FpsMeter {
        private final long[] stamps;
        private int count;
        private int next;

        public FpsMeter(int window) {
            if (window < 2) {
                throw new IllegalArgumentException("the FPS window needs at least 2 frames, got " + window);
            }
            stamps = new long[window];
        }

        /** Records a frame at {@code nanos} (e.g. {@code System.nanoTime()}); returns the current FPS (0 at first). */
        public double tick(long nanos) {
            stamps[next] = nanos;
            next = (next + 1) % stamps.length;
            count = Math.min(count + 1, stamps.length);
            if (count < 2) {
                return 0;
            }
            long newest = stamps[(next - 1 + stamps.length) % stamps.length];
            long oldest = stamps[(next - count + stamps.length) % stamps.length];
            return newest == oldest ? 0 : (count - 1) * 1e9 / (newest - oldest);
        }

        public String label(double fps) {
            return String.format(Locale.US, "%.1f FPS", fps);
        }
    }
}
