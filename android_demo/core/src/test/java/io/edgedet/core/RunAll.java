package io.edgedet.core;

import org.junit.runner.Description;
import org.junit.runner.JUnitCore;
import org.junit.runner.Result;
import org.junit.runner.notification.Failure;
import org.junit.runner.notification.RunListener;

/** Runs the core's JUnit classes and prints the closing line CI reads: 'N passed, N failed'. */
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
        Result r = core.run(FixtureTest.class, JsonTest.class, MetadataTest.class, NmsTest.class, ImageOpsTest.class,
                OverlayTest.class);
        int failed = r.getFailureCount();
        System.out.println((r.getRunCount() - failed) + " passed, " + failed + " failed");
        System.exit(failed == 0 && r.getRunCount() > 0 ? 0 : 1);
    }
}
