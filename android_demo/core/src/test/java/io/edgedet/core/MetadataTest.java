package io.edgedet.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import org.junit.Test;

public class MetadataTest {
    private static String exported() throws Exception {
        File dir = (File) Fixtures.cases("predict_pafnet").get(0)[1];
        return Fixtures.text(new File(dir, Metadata.FILE_NAME));
    }

    @Test
    public void readsAnExportedFile() throws Exception {
        Metadata m = Metadata.parse(exported());
        assertEquals("onnx", m.format);
        assertEquals(96, m.inputSize);
        assertEquals("NCHW", m.layout);
        assertArrayEquals(new String[] {"digit", "square", "circle"}, m.classNames);
        assertArrayEquals(new float[] {0.485f, 0.456f, 0.406f}, m.mean, 0f);
        assertArrayEquals(new float[] {0.229f, 0.224f, 0.225f}, m.std, 0f);
        assertEquals(114, m.padValue);
        assertArrayEquals(new String[] {"boxes", "scores", "labels"}, m.outputNames);
        assertEquals("topk_boxes", m.decode.string("type"));
    }

    @Test
    public void ignoresKeysTheRuntimeDoesNotRead() throws Exception {
        String text = exported().replaceFirst("\\{", "{\"a_future_key\": {\"x\": [1, 2]}, ")
                .replaceAll("\"calibration\": null,", "").replaceAll("\"source_checkpoint\": null,", "");
        assertEquals(96, Metadata.parse(text).inputSize);
    }

    @Test
    public void readsTheFilesConstantsNotBuiltInOnes() throws Exception {
        Metadata m = Metadata.parse(exported().replace("\"pad_value\": 114", "\"pad_value\": 0")
                .replace("\"size\": 96", "\"size\": 64"));
        assertEquals(0, m.padValue);
        assertEquals(64, m.inputSize);
    }

    @Test
    public void rejectsWhatTheRuntimeRejects() throws Exception {
        String ok = exported();
        String[][] cases = {
            {"\"schema_version\": 1", "\"schema_version\": 2", "newer"},
            {"\"num_classes\": 3", "\"num_classes\": 4", "num_classes"},
            {"\"layout\": \"NCHW\"", "\"layout\": \"CHWN\"", "layout"},
            {"\"centred\": true", "\"centred\": false", "centred"},
            {"\"color\": \"rgb\"", "\"color\": \"bgr\"", "color"},
            {"\"model_file\"", "\"model_filename\"", "model_file"},
        };
        for (String[] c : cases) {
            assertTrue("fixture lacks " + c[0], ok.contains(c[0]));
            try {
                Metadata.parse(ok.replace(c[0], c[1]));
                fail("accepted " + c[1]);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage() + " should mention " + c[2], e.getMessage().contains(c[2]));
            }
        }
    }
}
