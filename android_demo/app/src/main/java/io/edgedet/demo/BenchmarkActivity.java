package io.edgedet.demo;

import android.app.Activity;
import android.content.Intent;
import android.os.Build;
import android.os.Bundle;
import android.os.SystemClock;
import android.util.Log;
import android.widget.TextView;
import io.edgedet.core.BenchRecord;
import io.edgedet.core.Json;
import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.FileReader;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Benchmark mode: times the LiteRT interpreter on a model and writes one benchmark record (DESIGN.md,
 * "Benchmark result"; the keys of {@code edgedet.bench.result.BenchmarkResult}) to a file the host pulls.
 *
 * <pre>
 * adb shell am start -W -n io.edgedet.demo/.BenchmarkActivity \
 *     --es model /sdcard/Android/data/io.edgedet.demo/files/models/tflite_fp32 \
 *     --ei threads 4 --ei warmup 10 --ei runs 100 \
 *     --es out /sdcard/Android/data/io.edgedet.demo/files/bench/result.json
 * </pre>
 *
 * Extras: {@code model} (export directory; default: pushed or bundled model), {@code threads} (4), {@code warmup}
 * (10), {@code runs} (100), {@code out} (default {@code files/bench/result.json} of the app's external storage).
 * The record is written to {@code out + ".tmp"} and renamed, so a file at {@code out} is always complete; a
 * failure writes {@code {"error": "..."}} to {@code out + ".error"} instead.
 */
public class BenchmarkActivity extends Activity {
    private static final String TAG = "edgedet-bench";

    private TextView text;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        text = new TextView(this);
        text.setTextSize(14);
        text.setText("benchmarking...");
        setContentView(text);
        final Intent intent = getIntent();
        new Thread(new Runnable() {
            @Override
            public void run() {
                final String message = runBenchmark(intent);
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        text.setText(message);
                    }
                });
            }
        }, "benchmark").start();
    }

    private File outFile(Intent intent) {
        String out = intent.getStringExtra("out");
        if (out != null) {
            return new File(out);
        }
        return new File(new File(getExternalFilesDir(null), "bench"), "result.json");
    }

    private String runBenchmark(Intent intent) {
        File out = outFile(intent);
        try {
            int threads = intent.getIntExtra("threads", 4);
            int warmup = intent.getIntExtra("warmup", 10);
            int runs = intent.getIntExtra("runs", 100);
            if (threads < 1 || warmup < 0 || runs < 1) {
                throw new IllegalArgumentException("need threads >= 1, warmup >= 0, runs >= 1; got threads=" + threads
                        + ", warmup=" + warmup + ", runs=" + runs);
            }
            ModelFiles files = ModelFiles.find(this, intent.getStringExtra("model"));
            float[] x = new float[3 * files.meta.inputSize * files.meta.inputSize];  // zeros: the time is the same
            long t0 = SystemClock.elapsedRealtimeNanos();
            LiteRtModel model = new LiteRtModel(files, threads);
            long t1 = SystemClock.elapsedRealtimeNanos();
            model.run(x);
            long t2 = SystemClock.elapsedRealtimeNanos();
            for (int i = 0; i < warmup; i++) {
                model.run(x);
            }
            double[] samples = new double[runs];
            for (int i = 0; i < runs; i++) {
                long a = SystemClock.elapsedRealtimeNanos();
                model.run(x);
                samples[i] = (SystemClock.elapsedRealtimeNanos() - a) / 1e6;
            }
            model.close();
            BenchRecord.Run run = new BenchRecord.Run();
            run.model = files.origin;
            run.device = deviceName();
            run.os = "Android " + Build.VERSION.RELEASE + " (API " + Build.VERSION.SDK_INT + ")";
            run.runtimeVersion = runtimeVersion();
            run.threads = threads;
            run.precision = files.meta.precision;
            run.inputSize = files.meta.inputSize;
            run.warmup = warmup;
            run.initMs = (t1 - t0) / 1e6;
            run.firstMs = (t2 - t1) / 1e6;
            run.peakRssMb = peakRssMb();
            run.modelSizeMb = files.modelBytes / 1e6;
            run.arch = System.getProperty("os.arch");
            run.simd = BenchRecord.simdFeatures(readText("/proc/cpuinfo"));
            run.emulated = Build.FINGERPRINT.contains("generic") || Build.HARDWARE.contains("ranchu")
                    || Build.HARDWARE.contains("goldfish");
            String record = BenchRecord.toJson(run, samples);
            writeAtomically(out, record + "\n");
            Log.i(TAG, record);
            return record;
        } catch (Throwable e) {
            Log.e(TAG, "benchmark failed", e);
            Map<String, Object> err = new LinkedHashMap<String, Object>();
            err.put("error", String.valueOf(e));
            try {
                writeAtomically(new File(out.getPath() + ".error"), Json.write(err) + "\n");
            } catch (IOException io) {
                Log.e(TAG, "cannot write " + out + ".error", io);
            }
            return "benchmark failed: " + e;
        }
    }

    private static String deviceName() {
        String soc = Build.VERSION.SDK_INT >= 31 ? socModel() : Build.HARDWARE;
        return Build.MANUFACTURER + " " + Build.MODEL + " (" + soc + ")";
    }

    private static String socModel() {
        try {  // Build.SOC_MODEL is API 31; the app compiles against API 23
            return (String) Build.class.getField("SOC_MODEL").get(null);
        } catch (ReflectiveOperationException e) {
            return Build.HARDWARE;
        }
    }

    private static String runtimeVersion() {
        try {
            return org.tensorflow.lite.TensorFlowLite.runtimeVersion();
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** A small text file's contents, or null (logged) when it cannot be read. */
    private static String readText(String path) {
        StringBuilder out = new StringBuilder();
        try {
            BufferedReader r = new BufferedReader(new FileReader(path));
            try {
                String line;
                while ((line = r.readLine()) != null) {
                    out.append(line).append('\n');
                }
            } finally {
                r.close();
            }
        } catch (IOException e) {
            Log.w(TAG, "cannot read " + path, e);
            return null;
        }
        return out.toString();
    }

    /** VmHWM of /proc/self/status: the process's peak resident memory. */
    private static Double peakRssMb() {
        try {
            BufferedReader r = new BufferedReader(new FileReader("/proc/self/status"));
            try {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.startsWith("VmHWM:")) {
                        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                    }
                }
            } finally {
                r.close();
            }
        } catch (IOException | NumberFormatException e) {
            Log.w(TAG, "no VmHWM in /proc/self/status", e);
        }
        return null;
    }

    private static void writeAtomically(File out, String content) throws IOException {
        File dir = out.getAbsoluteFile().getParentFile();
        if (dir != null && !dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File tmp = new File(out.getPath() + ".tmp");
        FileOutputStream f = new FileOutputStream(tmp);
        try {
            f.write(content.getBytes("UTF-8"));
            f.getFD().sync();
        } finally {
            f.close();
        }
        if (!tmp.renameTo(out)) {
            throw new IOException("cannot rename " + tmp + " to " + out);
        }
    }
}
