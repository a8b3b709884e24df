package io.edgedet.core;

import java.util.List;

/**
 * The fields of {@code edgedet.json} that the Python runtime ({@code edgedet.runtime}) reads, and nothing else;
 * unknown keys are ignored. Checks mirror {@code edgedet.deploy.schema.validate_metadata}.
 */
public final class Metadata {
    public static final String FILE_NAME = "edgedet.json";
    public static final int SCHEMA_VERSION = 1;
    private static final String FIX = "re-export the model with `edgedet export`";

    public final String format;
    /** "fp32", "fp16" or "int8" (reported by the benchmark). */
    public final String precision;
    public final String modelFile;
    public final String[] classNames;
    /** Model input side S (the input is S x S). */
    public final int inputSize;
    /** "NCHW" or "NHWC": the layout of the model file's input tensor. */
    public final String layout;
    public final float[] mean;
    public final float[] std;
    /** Pixel scale before mean/std (1/255). */
    public final float scale;
    public final int padValue;
    public final String[] outputNames;
    public final int[][] outputShapes;
    /** The decode spec ({@code Detector.decode_spec()}), read by {@link Decoder}. */
    public final JsonFields decode;

    private Metadata(JsonFields m) {
        int schema = m.integer("schema_version");
        if (schema > SCHEMA_VERSION) {
            throw new IllegalArgumentException("edgedet.json schema_version " + schema + " is newer than this app reads ("
                    + SCHEMA_VERSION + "): update the app");
        }
        format = m.string("format");
        precision = m.string("precision");
        modelFile = m.string("model_file");
        List<Object> names = m.list("class_names");
        classNames = new String[names.size()];
        for (int i = 0; i < classNames.length; i++) {
            if (!(names.get(i) instanceof String)) {
                throw new IllegalArgumentException("edgedet.json class_names must be strings; " + FIX);
            }
            classNames[i] = (String) names.get(i);
        }
        int numClasses = m.integer("num_classes");
        if (classNames.length == 0 || numClasses != classNames.length) {
            throw new IllegalArgumentException("edgedet.json has " + classNames.length + " class_names but num_classes = "
                    + numClasses + "; " + FIX);
        }
        JsonFields input = m.object("input");
        inputSize = input.integer("size");
        layout = input.string("layout");
        if (!layout.equals("NCHW") && !layout.equals("NHWC")) {
            throw new IllegalArgumentException("edgedet.json input.layout '" + layout + "' is not NCHW or NHWC");
        }
        JsonFields pre = m.object("preprocess");
        if (!pre.string("color").equals("rgb")) {
            throw new IllegalArgumentException("edgedet.json preprocess.color '" + pre.string("color")
                    + "' is not supported (rgb only); " + FIX);
        }
        mean = floats3(pre, "mean");
        std = floats3(pre, "std");
        scale = (float) pre.number("scale", 1.0 / 255.0);
        JsonFields lb = pre.object("letterbox");
        if (!lb.bool("centred", false)) {
            throw new IllegalArgumentException("edgedet.json preprocess.letterbox must be centred (the only rule edgedet"
                    + " exports); " + FIX);
        }
        padValue = lb.integer("pad_value");
        List<Object> outs = m.list("outputs");
        if (outs.isEmpty()) {
            throw new IllegalArgumentException("edgedet.json outputs is empty; " + FIX);
        }
        outputNames = new String[outs.size()];
        outputShapes = new int[outs.size()][];
        for (int i = 0; i < outs.size(); i++) {
            JsonFields o = new JsonFields(outs.get(i), "outputs[" + i + "]");
            outputNames[i] = o.string("name");
            outputShapes[i] = o.integers("shape");
        }
        decode = m.object("decode");
        decode.string("type");
        if (decode.has("num_classes") && decode.integer("num_classes") != numClasses) {
            throw new IllegalArgumentException("edgedet.json decode.num_classes = " + decode.integer("num_classes")
                    + " but num_classes = " + numClasses + "; " + FIX);
        }
    }

    private static float[] floats3(JsonFields f, String key) {
        double[] v = f.numbers(key);
        if (v.length != 3) {
            throw new IllegalArgumentException(f.path() + "." + key + " must hold 3 numbers (R, G, B)");
        }
        return new float[] {(float) v[0], (float) v[1], (float) v[2]};
    }

    /** Parses the text of an {@code edgedet.json}. */
    public static Metadata parse(String jsonText) {
        return new Metadata(new JsonFields(Json.parse(jsonText), "edgedet.json"));
    }

    public int numClasses() {
        return classNames.length;
    }

    /** Number of float elements of output {@code i}. */
    public int outputSize(int i) {
        int n = 1;
        for (int d : outputShapes[i]) {
            n *= d;
        }
        return n;
    }
}
