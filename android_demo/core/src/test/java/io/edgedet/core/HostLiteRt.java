package io.edgedet.core;

import java.util.Arrays;
import java.util.List;

/**
 * Host-only: a {@code .tflite} run from the JVM through android_demo/host_jni (the LiteRT C API of the
 * ai-edge-litert wheel), so that tests can feed the real model file with the core's preprocessing. Outputs come
 * back by the names of {@code edgedet.json}, in its order, as the app's LiteRtModel reads them.
 */
final class HostLiteRt implements AutoCloseable {
    static final String LIBRARY_PROPERTY = "edgedet.litert.jni";

    private final long handle;
    private final int[] order;

    HostLiteRt(String modelPath, String[] outputNames) {
        System.load(System.getProperty(LIBRARY_PROPERTY));
        handle = open(modelPath, "serving_default");
        List<String> names = Arrays.asList(outputNames(handle));
        order = new int[outputNames.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = names.indexOf(outputNames[i]);
            if (order[i] < 0) {
                close(handle);
                throw new IllegalArgumentException("output '" + outputNames[i] + "' is not in the file: " + names);
            }
        }
    }

    static boolean available() {
        return System.getProperty(LIBRARY_PROPERTY) != null;
    }

    float[][] run(float[] x) {
        float[][] raw = run(handle, x);
        float[][] out = new float[order.length][];
        for (int i = 0; i < order.length; i++) {
            out[i] = raw[order[i]];
        }
        return out;
    }

    @Override
    public void close() {
        close(handle);
    }

    private static native long open(String path, String signature);

    private static native String[] outputNames(long handle);

    private static native float[][] run(long handle, float[] x);

    private static native void close(long handle);
}
