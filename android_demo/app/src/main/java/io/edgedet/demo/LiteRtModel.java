package io.edgedet.demo;

import io.edgedet.core.Metadata;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.tensorflow.lite.Interpreter;

/**
 * One LiteRT interpreter (XNNPACK, a thread count) running the file's {@code serving_default} signature, like
 * {@code edgedet.runtime.litert}: outputs are read by the names in {@code edgedet.json}, in its order.
 */
final class LiteRtModel implements AutoCloseable {
    static final String SIGNATURE = "serving_default";

    private final Interpreter interpreter;
    private final String inputName;
    private final String[] outputNames;
    private final ByteBuffer input;
    private final Map<String, Object> inputs = new HashMap<String, Object>();
    private final Map<String, Object> outputs = new HashMap<String, Object>();
    private final ByteBuffer[] outputBuffers;
    private final float[][] outputArrays;

    LiteRtModel(ModelFiles files, int threads) {
        Metadata meta = files.meta;
        Interpreter.Options options = new Interpreter.Options().setNumThreads(threads).setUseXNNPACK(true);
        interpreter = new Interpreter(files.model, options);
        if (!Arrays.asList(interpreter.getSignatureKeys()).contains(SIGNATURE)) {
            throw new IllegalArgumentException(files.origin + " has no '" + SIGNATURE + "' signature; re-export it");
        }
        inputName = interpreter.getSignatureInputs(SIGNATURE)[0];
        outputNames = meta.outputNames;
        if (!Arrays.asList(interpreter.getSignatureOutputs(SIGNATURE)).containsAll(Arrays.asList(outputNames))) {
            throw new IllegalArgumentException(files.origin + ": outputs " + Arrays.toString(outputNames)
                    + " of edgedet.json are not all in the file " + Arrays.toString(interpreter.getSignatureOutputs(SIGNATURE)));
        }
        input = ByteBuffer.allocateDirect(3 * meta.inputSize * meta.inputSize * 4).order(ByteOrder.nativeOrder());
        inputs.put(inputName, input);
        outputBuffers = new ByteBuffer[outputNames.length];
        outputArrays = new float[outputNames.length][];
        for (int i = 0; i < outputNames.length; i++) {
            outputArrays[i] = new float[meta.outputSize(i)];
            outputBuffers[i] = ByteBuffer.allocateDirect(outputArrays[i].length * 4).order(ByteOrder.nativeOrder());
            outputs.put(outputNames[i], outputBuffers[i]);
        }
    }

    /** Runs the model on a preprocessed input (the file's layout); returns the outputs, flat, reused next call. */
    float[][] run(float[] x) {
        input.rewind();
        input.asFloatBuffer().put(x);
        for (ByteBuffer b : outputBuffers) {
            b.rewind();
        }
        interpreter.runSignature(inputs, outputs, SIGNATURE);
        for (int i = 0; i < outputBuffers.length; i++) {
            outputBuffers[i].rewind();
            FloatBuffer f = outputBuffers[i].asFloatBuffer();
            f.get(outputArrays[i]);
        }
        return outputArrays;
    }

    @Override
    public void close() {
        interpreter.close();
    }
}
