package io.edgedet.core;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The benchmark result of DESIGN.md as {@code edgedet.bench.result.BenchmarkResult.to_dict} writes it: one flat
 * JSON object, latency statistics beside the other fields, no other keys (the host's reader rejects unknown
 * ones). The app's benchmark mode fills it; {@code edgedet bench --target adb} pulls the file.
 */
public final class BenchRecord {
    private BenchRecord() {
    }

    /**
     * {@code edgedet.bench.timing.latency_stats}: mean, sample std (n - 1; 0 for one run), min, median (mean of the
     * two middle samples for an even count), p95 and p99 (the sorted sample at {@code floor(q * n)}, the last one
     * past the end), max, in that order, plus the run count.
     */
    public static Map<String, Object> latencyStats(double[] samplesMs) {
        if (samplesMs.length == 0) {
            throw new IllegalArgumentException("latency statistics need at least one timed run");
        }
        double[] s = samplesMs.clone();
        Arrays.sort(s);
        int n = s.length;
        double sum = 0;
        for (double v : s) {
            if (!(v >= 0) || Double.isInfinite(v)) {
                throw new IllegalArgumentException("durations must be finite and >= 0 ms, got " + v);
            }
            sum += v;
        }
        double mean = sum / n;
        double sq = 0;
        for (double v : s) {
            sq += (v - mean) * (v - mean);
        }
        Map<String, Object> d = new LinkedHashMap<String, Object>();
        d.put("mean_ms", mean);
        d.put("std_ms", n > 1 ? Math.sqrt(sq / (n - 1)) : 0.0);
        d.put("min_ms", s[0]);
        d.put("p50_ms", n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2);
        d.put("p95_ms", s[Math.min(n - 1, n * 95 / 100)]);
        d.put("p99_ms", s[Math.min(n - 1, n * 99 / 100)]);
        d.put("max_ms", s[n - 1]);
        d.put("runs", n);
        return d;
    }

    /** What a benchmark run knows besides its timings. */
    public static final class Run {
        public String model;
        public String target = "adb";
        public String device;
        public String os;
        public String runtime = "litert";
        public String runtimeVersion;
        public String delegate = "xnnpack";
        public int threads;
        public String precision;
        public int inputSize;
        public int warmup;
        public double initMs;
        public double firstMs;
        public Double peakRssMb;
        public Double modelSizeMb;
        public boolean emulated;
        /** Export format, always "tflite" in the app. */
        public String format = "tflite";
        /** The device's machine architecture (os.arch, e.g. aarch64). */
        public String arch;
        /** The cores the run was pinned to, comma-separated indices (null: not pinned). */
        public String coreMask;
        public Double loadAvg1min;
        public Double cpuTempC;
        /** The CPU's vector and int8 dot-product features ({@link #simdFeatures}; null: unknown). */
        public String simd;
    }

    /** {@code edgedet.bench.machine.SIMD_FEATURES}, in its order. */
    static final String[] SIMD_FEATURES = {"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
        "amx_int8", "asimd", "asimdhp", "asimddp", "i8mm", "sve"};

    /**
     * {@code edgedet.bench.machine.simd_features_from_cpuinfo}: the {@link #SIMD_FEATURES} on the first
     * {@code flags} / {@code Features} line of /proc/cpuinfo's text, space-separated; null when it lists none (or
     * the text is null). On a phone: {@code asimddp} is the int8 dot product, {@code i8mm} the int8 matrix multiply.
     */
    public static String simdFeatures(String cpuinfo) {
        if (cpuinfo == null) {
            return null;
        }
        for (String line : cpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon).trim();
            if (!key.equals("flags") && !key.equals("Features")) {
                continue;
            }
            java.util.Set<String> have = new java.util.HashSet<String>(
                    Arrays.asList(line.substring(colon + 1).trim().split("\\s+")));
            StringBuilder out = new StringBuilder();
            for (String f : SIMD_FEATURES) {
                if (have.contains(f)) {
                    out.append(out.length() > 0 ? " " : "").append(f);
                }
            }
            return out.length() > 0 ? out.toString() : null;
        }
        return null;
    }

    /** The record as one line of JSON, keys in {@code BenchmarkResult} field order. */
    public static String toJson(Run r, double[] samplesMs) {
        Map<String, Object> d = new LinkedHashMap<String, Object>();
        d.put("model", r.model);
        d.put("target", r.target);
        d.put("device", r.device);
        d.put("os", r.os);
        d.put("runtime", r.runtime);
        d.put("runtime_version", r.runtimeVersion);
        d.put("delegate", r.delegate);
        d.put("threads", r.threads);
        d.put("precision", r.precision);
        List<Object> size = Arrays.<Object>asList(r.inputSize, r.inputSize);
        d.put("input_size", size);
        d.put("warmup", r.warmup);
        d.putAll(latencyStats(samplesMs));
        d.put("init_ms", r.initMs);
        d.put("first_ms", r.firstMs);
        d.put("peak_rss_mb", r.peakRssMb);
        d.put("model_size_mb", r.modelSizeMb);
        d.put("emulated", r.emulated);
        d.put("ap", null);
        d.put("format", r.format);
        d.put("arch", r.arch);
        d.put("core_mask", r.coreMask);
        d.put("load_avg_1min", r.loadAvg1min);
        d.put("cpu_temp_c", r.cpuTempC);
        d.put("simd", r.simd);
        // accuracy and parity are measured on the host from pulled detections, never by the app
        for (String key : new String[] {"ap_host", "ap_delta", "parity_max_abs_diff", "parity_input_max_abs_diff",
                "parity_detections"}) {
            d.put(key, null);
        }
        // what measured: this app (edgedet bench --device-binary records name benchmark_model and its sha256)
        d.put("runner", "demo-app");
        for (String key : new String[] {"runner_sha256", "tool_mem_init_mb", "tool_mem_overall_mb"}) {
            d.put(key, null);
        }
        return Json.write(d);
    }
}
