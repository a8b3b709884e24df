package io.edgedet.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class ImageOpsTest {
    @Test
    public void rotatesClockwise() {
        // 2 wide x 1 high: pixels A=1, B=2 (one byte value per pixel, repeated over the 3 channels)
        byte[] img = {1, 1, 1, 2, 2, 2};
        assertArrayEquals(new byte[] {1, 1, 1, 2, 2, 2}, Yuv.rotate(img, 2, 1, 90));  // now 1 wide x 2 high: A over B
        assertArrayEquals(new byte[] {2, 2, 2, 1, 1, 1}, Yuv.rotate(img, 2, 1, 180));
        assertArrayEquals(new byte[] {2, 2, 2, 1, 1, 1}, Yuv.rotate(img, 2, 1, 270));
        byte[] square = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4};  // 2x2: 1 2 / 3 4
        assertArrayEquals(new byte[] {3, 3, 3, 1, 1, 1, 4, 4, 4, 2, 2, 2}, Yuv.rotate(square, 2, 2, 90));
        assertArrayEquals(square, Yuv.rotate(Yuv.rotate(square, 2, 2, 90), 2, 2, 270));
    }

    @Test
    public void letterboxMatchesPythonRounding() {
        Letterbox lb = Letterbox.of(480, 640, 320);
        assertEquals(0.5, lb.scale, 0);
        assertEquals(40, lb.padY);
        assertEquals(0, lb.padX);
        // 5 * 0.5 = 2.5 rounds to even like Python's round()
        Letterbox odd = Letterbox.of(5, 10, 5);
        assertEquals(2, odd.newH);
        assertEquals(1, odd.padY);
        float[] back = lb.boxesToOriginal(new float[] {-4, 30, 100, 300});
        assertArrayEquals(new float[] {0, 0, 200, 480}, back, 0f);
    }

    @Test
    public void paddingUsesTheFilesPadValue() {
        byte[] rgb = new byte[2 * 4 * 3];
        java.util.Arrays.fill(rgb, (byte) 200);
        Letterbox lb = Letterbox.of(2, 4, 4);
        byte[] canvas = Preprocess.letterboxRgb(rgb, 2, 4, 4, 7, lb);
        assertEquals(7, canvas[0]);
        assertEquals((byte) 200, canvas[4 * 3]);
        assertEquals(7, canvas[3 * 4 * 3]);
    }

    @Test
    public void nhwcIsTheTransposeOfNchw() throws Exception {
        java.io.File dir = (java.io.File) Fixtures.cases("predict_pafnet").get(0)[1];
        Metadata meta = Metadata.parse(Fixtures.text(new java.io.File(dir, Metadata.FILE_NAME)));
        byte[] rgb = new byte[37 * 50 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 31 % 251);
        }
        float[] nchw = Preprocess.run(rgb, 37, 50, meta, false, null);
        float[] nhwc = Preprocess.run(rgb, 37, 50, meta, true, null);
        int plane = meta.inputSize * meta.inputSize;
        for (int i = 0; i < plane; i++) {
            for (int c = 0; c < 3; c++) {
                assertEquals(nchw[c * plane + i], nhwc[i * 3 + c], 0f);
            }
        }
    }

    @Test
    public void unknownDecodeTypeNamesTheKnownOnes() {
        JsonFields spec = new JsonFields(Json.parse("{\"type\": \"yolo_v99\"}"), "decode");
        try {
            Decoder.decode(new float[0][], spec, 0.5f, 96);
            org.junit.Assert.fail("decoded an unknown type");
        } catch (IllegalArgumentException e) {
            org.junit.Assert.assertTrue(e.getMessage(), e.getMessage().contains("anchor_ltrb, topk_boxes, two_stage"));
        }
    }
}
