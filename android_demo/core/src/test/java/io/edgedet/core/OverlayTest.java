package io.edgedet.core;

import static org.junit.Assert.assertEquals;

import java.util.List;
import org.junit.Test;

public class OverlayTest {
    @Test
    public void mapsFrameBoxesOntoAFilledAndAFittedView() {
        Detections d = new Detections(new float[] {10, 20, 30, 40}, new float[] {0.875f}, new int[] {1});
        String[] names = {"digit", "square"};
        // 100x200 frame on a 400x400 view: fill scales by 4 and crops 200 px above and below
        Overlay.Item fill = Overlay.layout(d, names, 100, 200, 400, 400, true).get(0);
        assertEquals(40, fill.left, 1e-6);
        assertEquals(-120, fill.top, 1e-6);
        assertEquals("square 0.88", fill.text);
        assertEquals(Overlay.colorOf(1), fill.color);
        // fit scales by 2 with 100 px bars left and right
        List<Overlay.Item> fit = Overlay.layout(d, names, 100, 200, 400, 400, false);
        assertEquals(120, fit.get(0).left, 1e-6);
        assertEquals(80, fit.get(0).bottom, 1e-6);
    }

    @Test
    public void fpsOverTheWindow() {
        Overlay.FpsMeter m = new Overlay.FpsMeter(3);
        assertEquals(0, m.tick(0), 0);
        assertEquals(10, m.tick(100_000_000L), 1e-9);
        assertEquals(10, m.tick(200_000_000L), 1e-9);
        assertEquals(5, m.tick(500_000_000L), 1e-9);  // window: 100 ms, 200 ms, 500 ms -> 2 frames in 0.4 s
        assertEquals("5.0 FPS", m.label(5));
    }
}
