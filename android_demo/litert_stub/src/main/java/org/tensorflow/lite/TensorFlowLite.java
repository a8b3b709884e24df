package org.tensorflow.lite;

/** STUB for compiling only (see android_demo/litert_stub/README.md). */
public final class TensorFlowLite {
    private TensorFlowLite() {
    }

    public static String runtimeVersion() {
        throw Interpreter.stub();
    }
}
