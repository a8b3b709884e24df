package io.edgedet.core;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Reads the cases of {@code tests/android/make_fixtures.py} from the folder in {@code -Dedgedet.fixtures}. */
final class Fixtures {
    private Fixtures() {
    }

    static File root() {
        String dir = System.getProperty("edgedet.fixtures");
        if (dir == null || !new File(dir).isDirectory()) {
            throw new IllegalStateException("-Dedgedet.fixtures=DIR must name the output of "
                    + "`python -m tests.android.make_fixtures DIR`, got " + dir);
        }
        return new File(dir);
    }

    /** Case folders whose name starts with {@code prefix}, as JUnit parameters {name, folder}. */
    static List<Object[]> cases(String prefix) {
        File[] dirs = root().listFiles();
        Arrays.sort(dirs);
        List<Object[]> out = new ArrayList<Object[]>();
        for (File d : dirs) {
            if (d.isDirectory() && d.getName().startsWith(prefix)) {
                out.add(new Object[] {d.getName(), d});
            }
        }
        if (out.isEmpty()) {
            throw new IllegalStateException("no '" + prefix + "*' cases in " + root());
        }
        return out;
    }

    static String text(File f) throws IOException {
        return new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8);
    }

    static JsonFields caseJson(File dir) throws IOException {
        return new JsonFields(Json.parse(text(new File(dir, "case.json"))), dir.getName());
    }

    static byte[] bytes(File dir, JsonFields entry) throws IOException {
        return Files.readAllBytes(new File(dir, entry.string("file")).toPath());
    }

    static float[] floats(File dir, JsonFields entry) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes(dir, entry)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    static float[][] outputs(File dir, JsonFields c) throws IOException {
        List<Object> list = c.list("outputs");
        float[][] out = new float[list.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = floats(dir, new JsonFields(list.get(i), "outputs[" + i + "]"));
        }
        return out;
    }

    /** The expected detections of a case. */
    static Detections detections(JsonFields c) {
        JsonFields d = c.object("detections");
        List<Object> boxes = d.list("boxes");
        double[] scores = d.numbers("scores");
        int[] labels = d.integers("labels");
        float[] b = new float[boxes.size() * 4];
        for (int i = 0; i < boxes.size(); i++) {
            List<?> row = (List<?>) boxes.get(i);
            for (int k = 0; k < 4; k++) {
                b[i * 4 + k] = (float) (double) (Double) row.get(k);
            }
        }
        float[] s = new float[scores.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) scores[i];
        }
        return new Detections(b, s, labels);
    }
}
