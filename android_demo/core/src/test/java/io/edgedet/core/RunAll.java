package io.edgedet.core;

import org.junit.runner.Description;
import org.junit.runner.JUnitCore;
import org.junit.runner.Result;
import org.junit.runner.notification.Failure;
import org.junit.runner.notification.RunListener;

/**
 * Runs the core's JUnit classes (or those named as arguments) and prints the closing line CI reads:
 * 'N passed, N failed'. With {@code -Dedgedet.litert.jni=PATH} the real-model test runs too.
 */
public final class RunAll {
    private RunAll() {
    }

    public static void main(String[] args) {
        JUnitCore core = new JUnitCore();
        core.addListener(new RunListener() {
            @Override
            public void testFailure(Failure failure) {
                System.out.println("FAIL " + failure.getTestHeader() + ": " + failure.getMessage());
            }

            @Override
            public void testFinished(Description d) {
                if (System.getProperty("edgedet.verbose") != null) {
                    System.out.println("ran  " + d.getDisplayName());
                }
            }
        });
        java.util.List<Class<?>> classes = new java.util.ArrayList<Class<?>>(java.util.Arrays.<Class<?>>asList(
                FixtureTest.class, JsonTest.class, MetadataTest.class, NmsTest.class, ImageOpsTest.class,
                OverlayTest.class));
        if (HostLiteRt.available()) {  // the real .tflite through the host JNI shim
            classes.add(LiteRtJniTest.class);
        }
        if (args.length > 0) {  // only the named classes, e.g. LiteRtJniTest
            java.util.List<String> wanted = java.util.Arrays.asList(args);
            java.util.List<Class<?>> chosen = new java.util.ArrayList<Class<?>>();
            for (Class<?> c : classes) {
                if (wanted.contains(c.getSimpleName())) {
                    chosen.add(c);
                }
            }
            classes = chosen;
        }
        Result r = core.run(classes.toArray(new Class<?>[0]));
        int failed = r.getFailureCount();
        System.out.println((r.getRunCount() - failed) + " passed, " + failed + " failed");
        System.exit(failed == 0 && r.getRunCount() > 0 ? 0 : 1);
    }
}
