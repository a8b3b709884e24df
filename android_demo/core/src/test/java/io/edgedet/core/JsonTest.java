package io.edgedet.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
    @Test
    public void parsesNestedValues() {
        Map<?, ?> m = (Map<?, ?>) Json.parse(" {\"a\": [1, -2.5e2, 0.125], \"b\": {\"c\": null, \"d\": true},"
                + " \"s\": \"x\\\"\\u00e9\\n\"} ");
        assertEquals(Arrays.asList(1.0, -250.0, 0.125), m.get("a"));
        Map<?, ?> b = (Map<?, ?>) m.get("b");
        assertNull(b.get("c"));
        assertEquals(Boolean.TRUE, b.get("d"));
        assertEquals("x\"\u00e9\n", m.get("s"));
        assertEquals(0, ((List<?>) Json.parse("[]")).size());
    }

    @Test
    public void keepsFloat64Precision() {
        assertEquals(0.00392156862745098, (Double) Json.parse("0.00392156862745098"), 0.0);
    }

    @Test
    public void rejectsWhatPythonJsonDumpsNeverWrites() {
        String[] bad = {"{\"a\": 1,}", "[1, 2,]", "{'a': 1}", "NaN", "01", "1.", "{\"a\" 1}", "[1] x", "",
            "{\"a\": 1, \"a\": 2}", "\"tab\there\"", "-", "tru"};
        for (String text : bad) {
            try {
                Json.parse(text);
                fail("accepted " + text);
            } catch (IllegalArgumentException expected) {
                // the message names the position
                if (!expected.getMessage().startsWith("invalid JSON at character")) {
                    throw expected;
                }
            }
        }
    }
}
