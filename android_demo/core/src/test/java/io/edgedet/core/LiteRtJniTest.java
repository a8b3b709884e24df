package io.edgedet.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.Collection;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import org.junit.runners.Parameterized.Parameters;

/**
 * The whole chain in Java on a real {@code .tflite}: the core preprocesses the image in the file's layout, LiteRT
 * (through the host JNI shim) runs the model, the core decodes; the raw outputs and the detections must equal the
 * Python runtime's ({@code edgedet.runtime.load(dir).predict}) within 1e-4. Run only with
 * {@code -Dedgedet.litert.jni=PATH} (RunAll adds it then).
 */
@RunWith(Parameterized.class)
public class LiteRtJniTest {
    private final String name;
    private final File dir;

    public LiteRtJniTest(String name, File dir) {
        this.name = name;
        this.dir = dir;
    }

    @Parameters(name = "{0}")
    public static Collection<Object[]> data() {
        return Fixtures.cases("litert_");
    }

    @Test
    public void realModelFromJavaMatchesPython() throws Exception {
        JsonFields c = Fixtures.caseJson(dir);
        Metadata meta = Metadata.parse(Fixtures.text(new File(dir, Metadata.FILE_NAME)));
        assertEquals(name + ": a TFLite export takes NHWC", "NHWC", meta.layout);
        int[] shape = c.object("image").integers("shape");
        Pipeline pipeline = new Pipeline(meta);
        float[] x = pipeline.preprocess(Preprocess.swapRedBlue(Fixtures.bytes(dir, c.object("image"))), shape[0],
                shape[1]);
        float[][] outputs;
        HostLiteRt model = new HostLiteRt(new File(dir, meta.modelFile).getPath(), meta.outputNames);
        try {
            outputs = model.run(x);
        } finally {
            model.close();
        }
        float[][] want = Fixtures.outputs(dir, c);
        for (int i = 0; i < want.length; i++) {
            assertEquals(name + ": output " + i + " size", want[i].length, outputs[i].length);
            float worst = 0;
            for (int k = 0; k < want[i].length; k++) {
                worst = Math.max(worst, Math.abs(want[i][k] - outputs[i][k]));
            }
            assertTrue(name + ": output " + meta.outputNames[i] + " differs by " + worst, worst <= FixtureTest.TOL);
        }
        Detections got = pipeline.postprocess(outputs, (float) c.number("score_thr"));
        Detections exp = Fixtures.detections(c);
        assertEquals(name + ": number of detections", exp.size(), got.size());
        assertTrue(name + ": the fixture has detections", exp.size() > 0);
        for (int i = 0; i < exp.size(); i++) {
            assertEquals(name + ": label " + i, exp.labels[i], got.labels[i]);
            assertEquals(name + ": score " + i, exp.scores[i], got.scores[i], FixtureTest.TOL);
            for (int k = 0; k < 4; k++) {
                float w = exp.boxes[i * 4 + k];
                assertEquals(name + ": box " + i, w, got.boxes[i * 4 + k], FixtureTest.TOL * Math.max(1f, Math.abs(w)));
            }
        }
    }
}
