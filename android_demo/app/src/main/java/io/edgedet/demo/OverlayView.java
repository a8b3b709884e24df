package io.edgedet.demo;

import android.content.Context;
import android.graphics.Canvas;
import android.graphics.Color;
import android.graphics.Paint;
import android.view.View;
import io.edgedet.core.Overlay;
import java.util.Collections;
import java.util.List;

/** Strokes the boxes and labels of {@link Overlay#layout} and a status line (FPS, timings) over the preview. */
final class OverlayView extends View {
    private final Paint box = new Paint();
    private final Paint text = new Paint();
    private final Paint back = new Paint();
    private List<Overlay.Item> items = Collections.emptyList();
    private String status = "";

    OverlayView(Context context) {
        super(context);
        float dp = context.getResources().getDisplayMetrics().density;
        box.setStyle(Paint.Style.STROKE);
        box.setStrokeWidth(2 * dp);
        text.setTextSize(14 * dp);
        text.setAntiAlias(true);
        back.setStyle(Paint.Style.FILL);
    }

    /** Called on the UI thread with the latest frame's items. */
    void show(List<Overlay.Item> items, String status) {
        this.items = items;
        this.status = status;
        invalidate();
    }

    @Override
    protected void onDraw(Canvas canvas) {
        float pad = text.getTextSize() / 4;
        for (Overlay.Item it : items) {
            box.setColor(it.color);
            canvas.drawRect(it.left, it.top, it.right, it.bottom, box);
            float w = text.measureText(it.text) + 2 * pad;
            float h = text.getTextSize() + 2 * pad;
            float top = Math.max(0, it.top - h);
            back.setColor(it.color);
            canvas.drawRect(it.left, top, it.left + w, top + h, back);
            text.setColor(Color.BLACK);
            canvas.drawText(it.text, it.left + pad, top + h - pad - text.descent(), text);
        }
        back.setColor(0x99000000);
        float h = text.getTextSize() + 2 * pad;
        canvas.drawRect(0, 0, text.measureText(status) + 2 * pad, h, back);
        text.setColor(Color.WHITE);
        canvas.drawText(status, pad, h - pad - text.descent(), text);
    }
}
