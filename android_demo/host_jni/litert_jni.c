/*
 * Host-only JNI shim: runs a .tflite from the JVM through the LiteRT 2.x C API of the ai-edge-litert wheel
 * (libLiteRt.so, which ships no headers), so the core's tests can run the real model file from Java.
 * Not part of the app (the phone uses LiteRT's Java Interpreter). ABI-sensitive: the declarations below follow
 * the LiteRT 2.x C headers and were checked against ai-edge-litert 2.3.0 only; build_jni.sh pins that version.
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int32_t LiteRtStatus;
typedef size_t LiteRtParamIndex;
typedef void *LiteRtEnvironment, *LiteRtModel, *LiteRtSignature, *LiteRtTensor, *LiteRtCompiledModel,
    *LiteRtOptions, *LiteRtTensorBuffer, *LiteRtTensorBufferRequirements;

/* LiteRtRankedTensorType is only passed back to the library: an opaque, generously sized block. */
typedef struct { int32_t element_type; uint8_t layout[256]; } RankedTensorType;
enum { kOk = 0, kFloat32 = 1, kLockRead = 0, kLockWrite = 1, kCpu = 1 };

LiteRtStatus LiteRtCreateEnvironment(int, const void *, LiteRtEnvironment *);
void LiteRtDestroyEnvironment(LiteRtEnvironment);
LiteRtStatus LiteRtCreateModelFromFile(LiteRtEnvironment, const char *, LiteRtModel *);
void LiteRtDestroyModel(LiteRtModel);
LiteRtStatus LiteRtGetNumModelSignatures(LiteRtModel, LiteRtParamIndex *);
LiteRtStatus LiteRtGetModelSignature(LiteRtModel, LiteRtParamIndex, LiteRtSignature *);
LiteRtStatus LiteRtGetSignatureKey(LiteRtSignature, const char **);
LiteRtStatus LiteRtGetNumSignatureInputs(LiteRtSignature, LiteRtParamIndex *);
LiteRtStatus LiteRtGetNumSignatureOutputs(LiteRtSignature, LiteRtParamIndex *);
LiteRtStatus LiteRtGetSignatureOutputName(LiteRtSignature, LiteRtParamIndex, const char **);
LiteRtStatus LiteRtGetSignatureInputTensorByIndex(LiteRtSignature, LiteRtParamIndex, LiteRtTensor *);
LiteRtStatus LiteRtGetSignatureOutputTensorByIndex(LiteRtSignature, LiteRtParamIndex, LiteRtTensor *);
LiteRtStatus LiteRtGetRankedTensorType(LiteRtTensor, RankedTensorType *);
LiteRtStatus LiteRtCreateOptions(LiteRtOptions *);
void LiteRtDestroyOptions(LiteRtOptions);
LiteRtStatus LiteRtSetOptionsHardwareAccelerators(LiteRtOptions, int);
LiteRtStatus LiteRtCreateCompiledModel(LiteRtEnvironment, LiteRtModel, LiteRtOptions, LiteRtCompiledModel *);
void LiteRtDestroyCompiledModel(LiteRtCompiledModel);
LiteRtStatus LiteRtGetCompiledModelInputBufferRequirements(LiteRtCompiledModel, LiteRtParamIndex, LiteRtParamIndex,
                                                           LiteRtTensorBufferRequirements *);
LiteRtStatus LiteRtGetCompiledModelOutputBufferRequirements(LiteRtCompiledModel, LiteRtParamIndex, LiteRtParamIndex,
                                                            LiteRtTensorBufferRequirements *);
LiteRtStatus LiteRtCreateManagedTensorBufferFromRequirements(LiteRtEnvironment, const RankedTensorType *,
                                                             LiteRtTensorBufferRequirements, LiteRtTensorBuffer *);
void LiteRtDestroyTensorBuffer(LiteRtTensorBuffer);
LiteRtStatus LiteRtGetTensorBufferPackedSize(LiteRtTensorBuffer, size_t *);
LiteRtStatus LiteRtLockTensorBuffer(LiteRtTensorBuffer, void **, int);
LiteRtStatus LiteRtUnlockTensorBuffer(LiteRtTensorBuffer);
LiteRtStatus LiteRtRunCompiledModel(LiteRtCompiledModel, LiteRtParamIndex, size_t, LiteRtTensorBuffer *, size_t,
                                    LiteRtTensorBuffer *);

typedef struct {
    LiteRtEnvironment env;
    LiteRtModel model;
    LiteRtOptions options;
    LiteRtCompiledModel compiled;
    LiteRtSignature signature;
    LiteRtParamIndex signature_index;
    size_t num_inputs, num_outputs;
    LiteRtTensorBuffer *inputs, *outputs;
} Handle;

static void destroy(Handle *h) {
    if (!h) return;
    for (size_t i = 0; h->inputs && i < h->num_inputs; i++) if (h->inputs[i]) LiteRtDestroyTensorBuffer(h->inputs[i]);
    for (size_t i = 0; h->outputs && i < h->num_outputs; i++) if (h->outputs[i]) LiteRtDestroyTensorBuffer(h->outputs[i]);
    free(h->inputs);
    free(h->outputs);
    if (h->compiled) LiteRtDestroyCompiledModel(h->compiled);
    if (h->options) LiteRtDestroyOptions(h->options);
    if (h->model) LiteRtDestroyModel(h->model);
    if (h->env) LiteRtDestroyEnvironment(h->env);
    free(h);
}

static jlong fail(JNIEnv *jni, Handle *h, const char *what, LiteRtStatus status) {
    char msg[256];
    snprintf(msg, sizeof msg, "LiteRT C API: %s failed (status %d)", what, (int)status);
    destroy(h);
    (*jni)->ThrowNew(jni, (*jni)->FindClass(jni, "java/lang/IllegalStateException"), msg);
    return 0;
}

#define CHECK(call, what) do { LiteRtStatus s_ = (call); if (s_ != kOk) return fail(jni, h, what, s_); } while (0)

/* Opens `path` and prepares the buffers of the signature named `key`. */
JNIEXPORT jlong JNICALL Java_io_edgedet_core_HostLiteRt_open(JNIEnv *jni, jclass cls, jstring jpath, jstring jkey) {
    Handle *h = calloc(1, sizeof(Handle));
    const char *path = (*jni)->GetStringUTFChars(jni, jpath, NULL);
    const char *key = (*jni)->GetStringUTFChars(jni, jkey, NULL);
    LiteRtStatus s = LiteRtCreateEnvironment(0, NULL, &h->env);
    if (s == kOk) s = LiteRtCreateModelFromFile(h->env, path, &h->model);
    (*jni)->ReleaseStringUTFChars(jni, jpath, path);
    if (s != kOk) {
        (*jni)->ReleaseStringUTFChars(jni, jkey, key);
        return fail(jni, h, "loading the model", s);
    }
    LiteRtParamIndex n = 0;
    int found = 0;
    LiteRtGetNumModelSignatures(h->model, &n);
    for (LiteRtParamIndex i = 0; i < n && !found; i++) {
        const char *k = NULL;
        if (LiteRtGetModelSignature(h->model, i, &h->signature) == kOk &&
            LiteRtGetSignatureKey(h->signature, &k) == kOk && k && strcmp(k, key) == 0) {
            h->signature_index = i;
            found = 1;
        }
    }
    (*jni)->ReleaseStringUTFChars(jni, jkey, key);
    if (!found) return fail(jni, h, "finding the signature", -1);
    CHECK(LiteRtCreateOptions(&h->options), "LiteRtCreateOptions");
    CHECK(LiteRtSetOptionsHardwareAccelerators(h->options, kCpu), "selecting the CPU");
    CHECK(LiteRtCreateCompiledModel(h->env, h->model, h->options, &h->compiled), "compiling the model");
    LiteRtParamIndex ni = 0, no = 0;
    CHECK(LiteRtGetNumSignatureInputs(h->signature, &ni), "counting inputs");
    CHECK(LiteRtGetNumSignatureOutputs(h->signature, &no), "counting outputs");
    h->num_inputs = ni;
    h->num_outputs = no;
    h->inputs = calloc(ni, sizeof(LiteRtTensorBuffer));
    h->outputs = calloc(no, sizeof(LiteRtTensorBuffer));
    for (size_t i = 0; i < ni + no; i++) {
        int input = i < ni;
        size_t j = input ? i : i - ni;
        LiteRtTensor tensor = NULL;
        RankedTensorType type;
        LiteRtTensorBufferRequirements req = NULL;
        memset(&type, 0, sizeof type);
        CHECK(input ? LiteRtGetSignatureInputTensorByIndex(h->signature, j, &tensor)
                    : LiteRtGetSignatureOutputTensorByIndex(h->signature, j, &tensor), "reading a tensor");
        CHECK(LiteRtGetRankedTensorType(tensor, &type), "reading a tensor type");
        if (type.element_type != kFloat32) return fail(jni, h, "float32 tensors (this model has others)", -1);
        CHECK(input ? LiteRtGetCompiledModelInputBufferRequirements(h->compiled, h->signature_index, j, &req)
                    : LiteRtGetCompiledModelOutputBufferRequirements(h->compiled, h->signature_index, j, &req),
              "buffer requirements");
        CHECK(LiteRtCreateManagedTensorBufferFromRequirements(h->env, &type, req,
                                                              input ? &h->inputs[j] : &h->outputs[j]),
              "creating a buffer");
    }
    return (jlong)(intptr_t)h;
}

JNIEXPORT jobjectArray JNICALL Java_io_edgedet_core_HostLiteRt_outputNames(JNIEnv *jni, jclass cls, jlong ptr) {
    Handle *h = (Handle *)(intptr_t)ptr;
    jobjectArray out = (*jni)->NewObjectArray(jni, (jsize)h->num_outputs, (*jni)->FindClass(jni, "java/lang/String"), NULL);
    for (size_t i = 0; i < h->num_outputs; i++) {
        const char *name = "";
        LiteRtGetSignatureOutputName(h->signature, i, &name);
        (*jni)->SetObjectArrayElement(jni, out, (jsize)i, (*jni)->NewStringUTF(jni, name));
    }
    return out;
}

static int copy_buffer(LiteRtTensorBuffer b, void *data, size_t bytes, int write) {
    size_t packed = 0;
    void *mem = NULL;
    if (LiteRtGetTensorBufferPackedSize(b, &packed) != kOk || packed != bytes) return -1;
    if (LiteRtLockTensorBuffer(b, &mem, write ? kLockWrite : kLockRead) != kOk || !mem) return -2;
    if (write) memcpy(mem, data, bytes); else memcpy(data, mem, bytes);
    return LiteRtUnlockTensorBuffer(b) == kOk ? 0 : -3;
}

/* Runs the signature on one float32 input (the model's layout); returns every output, flat, in signature order. */
JNIEXPORT jobjectArray JNICALL Java_io_edgedet_core_HostLiteRt_run(JNIEnv *jni, jclass cls, jlong ptr, jfloatArray x) {
    Handle *h = (Handle *)(intptr_t)ptr;
    jclass ise = (*jni)->FindClass(jni, "java/lang/IllegalStateException");
    if (h->num_inputs != 1) { (*jni)->ThrowNew(jni, ise, "the model must have one input"); return NULL; }
    jsize n = (*jni)->GetArrayLength(jni, x);
    jfloat *in = (*jni)->GetFloatArrayElements(jni, x, NULL);
    int rc = copy_buffer(h->inputs[0], in, (size_t)n * 4, 1);
    (*jni)->ReleaseFloatArrayElements(jni, x, in, JNI_ABORT);
    if (rc != 0) { (*jni)->ThrowNew(jni, ise, "the input has the wrong size for the model"); return NULL; }
    LiteRtStatus s = LiteRtRunCompiledModel(h->compiled, h->signature_index, h->num_inputs, h->inputs,
                                            h->num_outputs, h->outputs);
    if (s != kOk) { (*jni)->ThrowNew(jni, ise, "LiteRtRunCompiledModel failed"); return NULL; }
    jobjectArray out = (*jni)->NewObjectArray(jni, (jsize)h->num_outputs, (*jni)->FindClass(jni, "[F"), NULL);
    for (size_t i = 0; i < h->num_outputs; i++) {
        size_t bytes = 0;
        LiteRtGetTensorBufferPackedSize(h->outputs[i], &bytes);
        float *tmp = malloc(bytes);
        if (copy_buffer(h->outputs[i], tmp, bytes, 0) != 0) {
            free(tmp);
            (*jni)->ThrowNew(jni, ise, "cannot read an output buffer");
            return NULL;
        }
        jfloatArray arr = (*jni)->NewFloatArray(jni, (jsize)(bytes / 4));
        (*jni)->SetFloatArrayRegion(jni, arr, 0, (jsize)(bytes / 4), tmp);
        free(tmp);
        (*jni)->SetObjectArrayElement(jni, out, (jsize)i, arr);
    }
    return out;
}

JNIEXPORT void JNICALL Java_io_edgedet_core_HostLiteRt_close(JNIEnv *jni, jclass cls, jlong ptr) {
    destroy((Handle *)(intptr_t)ptr);
}
