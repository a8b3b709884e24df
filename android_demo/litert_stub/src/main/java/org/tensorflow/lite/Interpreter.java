package org.tensorflow.lite;

import java.io.File;
import java.nio.ByteBuffer;
import java.util.Map;

/** STUB for compiling only (see android_demo/litert_stub/README.md): the LiteRT Interpreter API, no implementation. */
public final class Interpreter implements AutoCloseable {
    /** STUB of {@code Interpreter.Options}. */
    public static class Options {
        public Options setNumThreads(int numThreads) {
            throw stub();
        }

        public Options setUseXNNPACK(boolean useXnnpack) {
            throw stub();
        }
    }

    public Interpreter(File modelFile, Options options) {
        throw stub();
    }

    public Interpreter(ByteBuffer byteBuffer, Options options) {
        throw stub();
    }

    public String[] getSignatureKeys() {
        throw stub();
    }

    public String[] getSignatureInputs(String signatureKey) {
        throw stub();
    }

    public String[] getSignatureOutputs(String signatureKey) {
        throw stub();
    }

    public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs, String signatureKey) {
        throw stub();
    }

    @Override
    public void close() {
        throw stub();
    }

    static UnsupportedOperationException stub() {
        return new UnsupportedOperationException("LiteRT compile-only stub: build with the real "
                + "com.google.ai.edge.litert:litert dependency (android_demo/app/build.gradle)");
    }
}
