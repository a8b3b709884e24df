package io.edgedet.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import org.junit.runners.Parameterized.Parameters;

/**
 * The Java core against the Python runtime, case by case (tests/android/make_fixtures.py): the same input tensor
 * and the same detections within 1e-4 (boxes: 1e-4 relative to their size in pixels, at least 1e-4 absolute).
 */
@RunWith(Parameterized.class)
public class FixtureTest {
    static final float TOL = 1e-4f;
    private final String name;
    private final File dir;

    public FixtureTest(String name, File dir) {
        this.name = name;
        this.dir = dir;
    }

    @Parameters(name = "{0}")
    public static Collection<Object[]> data() {
        List<Object[]> all = new ArrayList<Object[]>();
        for (String kind : new String[] {"predict_", "decode_", "preprocess_", "yuv_", "bench_"}) {
            all.addAll(Fixtures.cases(kind));
        }
        return all;
    }

    @Test
    public void matchesThePythonRuntime() throws Exception {
        JsonFields c = Fixtures.caseJson(dir);
        String kind = c.string("kind");
        if (kind.equals("predict")) {
            checkPredict(c);
        } else if (kind.equals("decode")) {
            Detections got = Decoder.decode(Fixtures.outputs(dir, c), c.object("decode"), (float) c.number("score_thr"),
                    c.integer("imgsz"));
            assertSameDetections(Fixtures.detections(c), got);
        } else if (kind.equals("preprocess")) {
            checkPreprocess(c);
        } else if (kind.equals("yuv")) {
            checkYuv(c);
        } else if (kind.equals("bench")) {
            checkBench(c);
        } else {
            throw new AssertionError(name + ": unknown case kind " + kind);
        }
    }

    private static byte[] imageRgb(File dir, JsonFields c) throws Exception {
        return Preprocess.swapRedBlue(Fixtures.bytes(dir, c.object("image")));
    }

    private void checkPredict(JsonFields c) throws Exception {
        Metadata meta = Metadata.parse(Fixtures.text(new File(dir, Metadata.FILE_NAME)));
        int[] shape = c.object("image").integers("shape");
        Pipeline pipeline = new Pipeline(meta);
        float[] x = pipeline.preprocess(imageRgb(dir, c), shape[0], shape[1]);
        assertClose("input tensor", Fixtures.floats(dir, c.object("input")), x);
        // decode the Python model outputs: the model call itself is LiteRT's job on the phone
        Detections got = pipeline.postprocess(Fixtures.outputs(dir, c), (float) c.number("score_thr"));
        assertSameDetections(Fixtures.detections(c), got);
    }

    private void checkPreprocess(JsonFields c) throws Exception {
        int[] shape = c.object("image").integers("shape");
        int size = c.integer("size");
        Letterbox lb = Letterbox.of(shape[0], shape[1], size);
        JsonFields want = c.object("letterbox");
        assertEquals(name + " scale", want.number("scale"), lb.scale, 0.0);
        assertEquals(name + " pad_x", want.integer("pad_x"), lb.padX);
        assertEquals(name + " pad_y", want.integer("pad_y"), lb.padY);
        Metadata meta = Metadata.parse(Fixtures.text(new File(Fixtures.cases("predict_pafnet").get(0)[1].toString(),
                Metadata.FILE_NAME)));
        float[] x = Preprocess.run(imageRgb(dir, c), shape[0], shape[1], meta, false, null);
        assertEquals(size, meta.inputSize);
        assertClose("input tensor", Fixtures.floats(dir, c.object("input")), x);
    }

    private void checkYuv(JsonFields c) throws Exception {
        int h = c.integer("height");
        int w = c.integer("width");
        byte[] i420 = Fixtures.bytes(dir, c.object("i420"));
        byte[] y = java.util.Arrays.copyOfRange(i420, 0, w * h);
        byte[] u = java.util.Arrays.copyOfRange(i420, w * h, w * h + w * h / 4);
        byte[] v = java.util.Arrays.copyOfRange(i420, w * h + w * h / 4, w * h * 3 / 2);
        byte[] want = Fixtures.bytes(dir, c.object("rgb"));
        byte[] planar = Yuv.toRgb(y, w, u, v, w / 2, 1, w, h, false, null);
        assertEquals(name + ": RGB differs from OpenCV's", java.util.Arrays.toString(want),
                java.util.Arrays.toString(planar));
        byte[] wantFull = Fixtures.bytes(dir, c.object("rgb_full"));
        assertEquals(name + ": full-range RGB differs from OpenCV's", java.util.Arrays.toString(wantFull),
                java.util.Arrays.toString(Yuv.toRgb(y, w, u, v, w / 2, 1, w, h, true, null)));
        // the same frame as a camera's semi-planar NV21 buffer (V and U interleaved, pixel stride 2, padded rows)
        int stride = w + 8;
        byte[] yPadded = new byte[stride * h];
        byte[] vu = new byte[stride * h / 2];
        for (int r = 0; r < h; r++) {
            System.arraycopy(y, r * w, yPadded, r * stride, w);
        }
        for (int r = 0; r < h / 2; r++) {
            for (int k = 0; k < w / 2; k++) {
                vu[r * stride + 2 * k] = v[r * (w / 2) + k];
                vu[r * stride + 2 * k + 1] = u[r * (w / 2) + k];
            }
        }
        byte[] uView = java.util.Arrays.copyOfRange(vu, 1, vu.length);
        byte[] semi = Yuv.toRgb(yPadded, stride, uView, vu, stride, 2, w, h, false, null);
        assertEquals(name + ": strided frame differs", java.util.Arrays.toString(want), java.util.Arrays.toString(semi));
    }

    private void checkBench(JsonFields c) throws Exception {
        JsonFields r = c.object("run");
        BenchRecord.Run run = new BenchRecord.Run();
        run.model = r.string("model");
        run.target = r.string("target");
        run.device = r.string("device");
        run.os = r.string("os");
        run.runtime = r.string("runtime");
        run.runtimeVersion = r.string("runtime_version");
        run.delegate = r.string("delegate");
        run.threads = r.integer("threads");
        run.precision = r.string("precision");
        run.inputSize = r.integer("input_size");
        run.warmup = r.integer("warmup");
        run.initMs = r.number("init_ms");
        run.firstMs = r.number("first_ms");
        run.peakRssMb = r.number("peak_rss_mb");
        run.modelSizeMb = r.number("model_size_mb");
        run.emulated = r.bool("emulated", true);
        run.format = r.string("format");
        run.arch = r.string("arch");
        run.coreMask = r.string("core_mask");
        run.loadAvg1min = r.number("load_avg_1min");
        run.cpuTempC = r.number("cpu_temp_c");
        run.simd = BenchRecord.simdFeatures(c.string("cpuinfo"));  // the phone's /proc/cpuinfo, parsed as in Python
        String line = BenchRecord.toJson(run, c.numbers("samples_ms"));
        java.nio.file.Files.write(new File(dir, "from_java.json").toPath(),
                line.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        java.util.Map<?, ?> got = (java.util.Map<?, ?>) Json.parse(line);
        java.util.Map<?, ?> want = (java.util.Map<?, ?>) c.raw("record");
        assertEquals(name + ": keys and their order", new ArrayList<Object>(want.keySet()),
                new ArrayList<Object>(got.keySet()));
        for (Object key : want.keySet()) {
            Object w = want.get(key);
            Object g = got.get(key);
            if (w instanceof Double) {
                assertEquals(name + ": " + key, (Double) w, (Double) g, 1e-9 * Math.max(1, Math.abs((Double) w)));
            } else {
                assertEquals(name + ": " + key, w, g);
            }
        }
    }

    private void assertClose(String what, float[] want, float[] got) {
        assertEquals(name + ": " + what + " length", want.length, got.length);
        float worst = 0;
        int at = -1;
        for (int i = 0; i < want.length; i++) {
            float d = Math.abs(want[i] - got[i]);
            if (!(d <= worst)) {
                worst = d;
                at = i;
            }
        }
        assertTrue(name + ": " + what + " differs by " + worst + " at " + at, worst <= TOL);
    }

    private void assertSameDetections(Detections want, Detections got) {
        assertEquals(name + ": number of detections", want.size(), got.size());
        assertTrue(name + ": the fixture has detections", want.size() > 0);
        for (int i = 0; i < want.size(); i++) {
            assertEquals(name + ": label of detection " + i, want.labels[i], got.labels[i]);
            assertEquals(name + ": score of detection " + i, want.scores[i], got.scores[i], TOL);
            for (int k = 0; k < 4; k++) {
                float w = want.boxes[i * 4 + k];
                assertEquals(name + ": box of detection " + i, w, got.boxes[i * 4 + k], TOL * Math.max(1f, Math.abs(w)));
            }
        }
    }
}
