package io.edgedet.demo;

import android.Manifest;
import android.app.Activity;
import android.content.Context;
import android.content.pm.PackageManager;
import android.graphics.ImageFormat;
import android.graphics.Matrix;
import android.graphics.SurfaceTexture;
import android.hardware.camera2.CameraAccessException;
import android.hardware.camera2.CameraCaptureSession;
import android.hardware.camera2.CameraCharacteristics;
import android.hardware.camera2.CameraDevice;
import android.hardware.camera2.CameraManager;
import android.hardware.camera2.CaptureRequest;
import android.hardware.camera2.params.StreamConfigurationMap;
import android.media.Image;
import android.media.ImageReader;
import android.os.Build;
import android.os.Bundle;
import android.os.Handler;
import android.os.HandlerThread;
import android.util.Log;
import android.util.Size;
import android.view.Surface;
import android.view.TextureView;
import android.widget.FrameLayout;
import android.widget.TextView;
import io.edgedet.core.Detections;
import io.edgedet.core.Overlay;
import io.edgedet.core.Pipeline;
import io.edgedet.core.Yuv;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Camera preview (Camera2 on a TextureView) with detections drawn over it. Frames come from an ImageReader in
 * YUV_420_888 at the preview's size (the camera's 4:3 size nearest 640x480); each is converted, rotated upright, letterboxed, run by LiteRT and decoded
 * by the core (every constant from edgedet.json). Extras: {@code model} (an export directory on the device),
 * {@code threads} (default 4), {@code score_thr} (default 0.35).
 */
public class MainActivity extends Activity {
    private static final String TAG = "edgedet";
    /** The analysis and preview size asked for; the camera's nearest 4:3 YUV size is used. */
    private static final int WANT_W = 640;
    private static final int WANT_H = 480;

    private TextureView preview;
    private OverlayView overlay;
    private HandlerThread cameraThread;
    private Handler cameraHandler;
    private CameraDevice camera;
    private ImageReader reader;
    private int sensorDegrees;
    private int frameW = WANT_W;
    private int frameH = WANT_H;
    private Pipeline pipeline;
    private LiteRtModel model;
    private float scoreThr;
    private final Overlay.FpsMeter fps = new Overlay.FpsMeter(30);
    private byte[] rgb;
    private byte[] yBytes;
    private byte[] uBytes;
    private byte[] vBytes;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        FrameLayout root = new FrameLayout(this);
        preview = new TextureView(this);
        overlay = new OverlayView(this);
        root.addView(preview);
        root.addView(overlay);
        setContentView(root);
        scoreThr = getIntent().getFloatExtra("score_thr", 0.35f);
        try {
            ModelFiles files = ModelFiles.find(this, getIntent().getStringExtra("model"));
            pipeline = new Pipeline(files.meta);
            model = new LiteRtModel(files, getIntent().getIntExtra("threads", 4));
            Log.i(TAG, "model " + files.origin + ", classes " + Arrays.toString(files.meta.classNames));
        } catch (Exception e) {
            fail("cannot load the model: " + e.getMessage());
        }
    }

    private void fail(String message) {
        Log.e(TAG, message);
        TextView t = new TextView(this);
        t.setText(message);
        t.setTextSize(18);
        setContentView(t);
    }

    @Override
    protected void onResume() {
        super.onResume();
        if (model == null) {
            return;
        }
        cameraThread = new HandlerThread("camera");
        cameraThread.start();
        cameraHandler = new Handler(cameraThread.getLooper());
        if (Build.VERSION.SDK_INT >= 23 && checkSelfPermission(Manifest.permission.CAMERA)
                != PackageManager.PERMISSION_GRANTED) {
            requestPermissions(new String[] {Manifest.permission.CAMERA}, 1);
            return;
        }
        startWhenPreviewReady();
    }

    @Override
    public void onRequestPermissionsResult(int code, String[] permissions, int[] results) {
        if (results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED) {
            startWhenPreviewReady();
        } else {
            fail("the camera permission is needed to show detections");
        }
    }

    private void startWhenPreviewReady() {
        if (preview.isAvailable()) {
            openCamera();
            return;
        }
        preview.setSurfaceTextureListener(new TextureView.SurfaceTextureListener() {
            @Override
            public void onSurfaceTextureAvailable(SurfaceTexture s, int w, int h) {
                openCamera();
            }

            @Override
            public void onSurfaceTextureSizeChanged(SurfaceTexture s, int w, int h) {
            }

            @Override
            public boolean onSurfaceTextureDestroyed(SurfaceTexture s) {
                return true;
            }

            @Override
            public void onSurfaceTextureUpdated(SurfaceTexture s) {
            }
        });
    }

    private void openCamera() {
        CameraManager manager = (CameraManager) getSystemService(Context.CAMERA_SERVICE);
        try {
            String id = backCamera(manager);
            CameraCharacteristics chars = manager.getCameraCharacteristics(id);
            sensorDegrees = chars.get(CameraCharacteristics.SENSOR_ORIENTATION);
            StreamConfigurationMap map = chars.get(CameraCharacteristics.SCALER_STREAM_CONFIGURATION_MAP);
            Size size = nearestSize(map.getOutputSizes(ImageFormat.YUV_420_888));
            frameW = size.getWidth();
            frameH = size.getHeight();
            reader = ImageReader.newInstance(frameW, frameH, ImageFormat.YUV_420_888, 2);
            reader.setOnImageAvailableListener(new ImageReader.OnImageAvailableListener() {
                @Override
                public void onImageAvailable(ImageReader r) {
                    Image image = r.acquireLatestImage();
                    if (image != null) {
                        try {
                            detect(image);
                        } finally {
                            image.close();
                        }
                    }
                }
            }, cameraHandler);
            manager.openCamera(id, new CameraDevice.StateCallback() {
                @Override
                public void onOpened(CameraDevice device) {
                    camera = device;
                    startSession();
                }

                @Override
                public void onDisconnected(CameraDevice device) {
                    device.close();
                }

                @Override
                public void onError(CameraDevice device, int error) {
                    device.close();
                    Log.e(TAG, "camera error " + error);
                }
            }, cameraHandler);
        } catch (CameraAccessException | SecurityException e) {
            Log.e(TAG, "cannot open the camera", e);
        }
    }

    /** The 4:3 size with the pixel count nearest to WANT_W x WANT_H (any size when none is 4:3). */
    private static Size nearestSize(Size[] sizes) {
        Size best = sizes[0];
        long bestCost = Long.MAX_VALUE;
        for (Size s : sizes) {
            long cost = Math.abs((long) s.getWidth() * s.getHeight() - (long) WANT_W * WANT_H);
            if (s.getWidth() * 3 != s.getHeight() * 4) {
                cost += 1L << 40;
            }
            if (cost < bestCost) {
                bestCost = cost;
                best = s;
            }
        }
        return best;
    }

    private static String backCamera(CameraManager manager) throws CameraAccessException {
        String[] ids = manager.getCameraIdList();
        for (String id : ids) {
            Integer facing = manager.getCameraCharacteristics(id).get(CameraCharacteristics.LENS_FACING);
            if (facing != null && facing == CameraCharacteristics.LENS_FACING_BACK) {
                return id;
            }
        }
        return ids[0];
    }

    private void startSession() {
        SurfaceTexture texture = preview.getSurfaceTexture();
        texture.setDefaultBufferSize(frameW, frameH);
        final Surface previewSurface = new Surface(texture);
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                fitPreview();
            }
        });
        try {
            final CaptureRequest.Builder request = camera.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW);
            request.addTarget(previewSurface);
            request.addTarget(reader.getSurface());
            camera.createCaptureSession(Arrays.asList(previewSurface, reader.getSurface()),
                    new CameraCaptureSession.StateCallback() {
                        @Override
                        public void onConfigured(CameraCaptureSession session) {
                            try {
                                session.setRepeatingRequest(request.build(), null, cameraHandler);
                            } catch (CameraAccessException e) {
                                Log.e(TAG, "cannot start the preview", e);
                            }
                        }

                        @Override
                        public void onConfigureFailed(CameraCaptureSession session) {
                            Log.e(TAG, "camera session configuration failed");
                        }
                    }, cameraHandler);
        } catch (CameraAccessException e) {
            Log.e(TAG, "cannot start the camera session", e);
        }
    }

    /** Centre-crops the preview to the view without stretching (the overlay maps boxes the same way). */
    private void fitPreview() {
        float vw = preview.getWidth();
        float vh = preview.getHeight();
        boolean sideways = sensorDegrees % 180 != 0;
        float fw = sideways ? frameH : frameW;
        float fh = sideways ? frameW : frameH;
        float s = Math.max(vw / fw, vh / fh);
        Matrix m = new Matrix();
        m.setScale(s * fw / vw, s * fh / vh, vw / 2, vh / 2);
        preview.setTransform(m);
    }

    private static byte[] copyPlane(Image.Plane plane, byte[] reuse) {
        ByteBuffer b = plane.getBuffer();
        byte[] out = reuse != null && reuse.length == b.remaining() ? reuse : new byte[b.remaining()];
        b.get(out);
        return out;
    }

    /**
     * One camera frame: YUV -> upright RGB -> model -> detections on the overlay. Camera YUV_420_888 is full-range
     * BT.601 (JFIF), as the camera HAL defines it for this format.
     */
    private void detect(Image image) {
        Image.Plane[] planes = image.getPlanes();
        int w = image.getWidth();
        int h = image.getHeight();
        yBytes = copyPlane(planes[0], yBytes);
        uBytes = copyPlane(planes[1], uBytes);
        vBytes = copyPlane(planes[2], vBytes);
        rgb = Yuv.toRgb(yBytes, planes[0].getRowStride(), uBytes, vBytes, planes[1].getRowStride(),
                planes[1].getPixelStride(), w, h, true, rgb != null && rgb.length == w * h * 3 ? rgb : null);
        byte[] upright = Yuv.rotate(rgb, w, h, sensorDegrees);
        boolean sideways = sensorDegrees % 180 != 0;
        int uw = sideways ? h : w;
        int uh = sideways ? w : h;
        long t0 = System.nanoTime();
        float[] x = pipeline.preprocess(upright, uh, uw);
        long t1 = System.nanoTime();
        float[][] outputs = model.run(x);
        long t2 = System.nanoTime();
        Detections dets = pipeline.postprocess(outputs, scoreThr);
        long t3 = System.nanoTime();
        double rate = fps.tick(t3);
        final List<Overlay.Item> items = Overlay.layout(dets, pipeline.meta.classNames, uw, uh, overlay.getWidth(),
                overlay.getHeight(), true);
        final String status = String.format(Locale.US, "%s | pre %.1f  model %.1f  post %.1f ms | %d boxes",
                fps.label(rate), (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, dets.size());
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                overlay.show(items, status);
            }
        });
    }

    @Override
    protected void onPause() {
        if (camera != null) {
            camera.close();
            camera = null;
        }
        if (reader != null) {
            reader.close();
            reader = null;
        }
        if (cameraThread != null) {
            cameraThread.quitSafely();
            cameraThread = null;
        }
        super.onPause();
    }

    @Override
    protected void onDestroy() {
        if (model != null) {
            model.close();
        }
        super.onDestroy();
    }
}
