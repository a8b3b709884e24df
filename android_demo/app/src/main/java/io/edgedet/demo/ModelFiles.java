package io.edgedet.demo;

import android.content.Context;
import android.content.res.AssetManager;
import io.edgedet.core.Metadata;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;

/**
 * An exported model as the app finds it: a directory pushed to the device (holding {@code edgedet.json} and the
 * {@code .tflite} it names) or the same two files bundled under {@code assets/model/}.
 */
final class ModelFiles {
    static final String ASSET_DIR = "model";
    /** Where {@code adb push} puts a model the app reads without any storage permission. */
    static final String PUSHED_DIR = "model";

    final Metadata meta;
    final ByteBuffer model;
    /** Where it came from, for the screen and the benchmark record. */
    final String origin;
    final long modelBytes;

    private ModelFiles(Metadata meta, ByteBuffer model, String origin, long modelBytes) {
        if (!meta.format.equals("tflite")) {
            throw new IllegalArgumentException(origin + " is a '" + meta.format + "' export; the app runs LiteRT: "
                    + "export with --format tflite");
        }
        this.meta = meta;
        this.model = model;
        this.origin = origin;
        this.modelBytes = modelBytes;
    }

    /** The model in {@code dir} (an export directory on the device). */
    static ModelFiles fromDirectory(File dir) throws IOException {
        File json = new File(dir, Metadata.FILE_NAME);
        if (!json.isFile()) {
            throw new IOException("no " + Metadata.FILE_NAME + " in " + dir + ": push the whole export directory");
        }
        Metadata meta = Metadata.parse(new String(readAll(new FileInputStream(json)), "UTF-8"));
        File file = new File(dir, meta.modelFile);
        if (!file.isFile()) {
            throw new IOException(json + " names model_file '" + meta.modelFile + "', which is not in " + dir);
        }
        FileInputStream in = new FileInputStream(file);
        try {
            FileChannel ch = in.getChannel();
            MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
            return new ModelFiles(meta, buf, dir.getAbsolutePath(), ch.size());
        } finally {
            in.close();
        }
    }

    /** The model bundled in {@code assets/model/}. */
    static ModelFiles fromAssets(Context context) throws IOException {
        AssetManager assets = context.getAssets();
        Metadata meta = Metadata.parse(new String(readAll(assets.open(ASSET_DIR + "/" + Metadata.FILE_NAME)), "UTF-8"));
        byte[] bytes = readAll(assets.open(ASSET_DIR + "/" + meta.modelFile));
        ByteBuffer buf = ByteBuffer.allocateDirect(bytes.length).order(ByteOrder.nativeOrder());
        buf.put(bytes).rewind();
        return new ModelFiles(meta, buf, "assets/" + ASSET_DIR, bytes.length);
    }

    /** {@code path} when given, else a pushed model in the app's files, else the bundled one. */
    static ModelFiles find(Context context, String path) throws IOException {
        if (path != null) {
            return fromDirectory(new File(path));
        }
        File ext = context.getExternalFilesDir(null);
        File pushed = ext == null ? null : new File(ext, PUSHED_DIR);
        if (pushed != null && new File(pushed, Metadata.FILE_NAME).isFile()) {
            return fromDirectory(pushed);
        }
        try {
            return fromAssets(context);
        } catch (IOException e) {
            throw new IOException("no model: push an export directory to " + pushed + " or bundle one in assets/"
                    + ASSET_DIR + " (" + e.getMessage() + ")");
        }
    }

    static byte[] readAll(InputStream in) throws IOException {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } finally {
            in.close();
        }
    }
}
