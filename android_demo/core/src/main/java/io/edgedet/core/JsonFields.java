package io.edgedet.core;

import java.util.List;
import java.util.Map;

/** Typed, path-named access to a parsed JSON object ({@link Json}); a wrong or missing field says which. */
public final class JsonFields {
    private final Map<String, Object> map;
    private final String path;

    @SuppressWarnings("unchecked")
    public JsonFields(Object parsed, String path) {
        if (!(parsed instanceof Map)) {
            throw new IllegalArgumentException(path + " must be a JSON object");
        }
        this.map = (Map<String, Object>) parsed;
        this.path = path;
    }

    public boolean has(String key) {
        return map.containsKey(key) && map.get(key) != null;
    }

    private Object require(String key) {
        if (!has(key)) {
            throw new IllegalArgumentException(path + "." + key + " is missing");
        }
        return map.get(key);
    }

    private IllegalArgumentException wrong(String key, String what) {
        return new IllegalArgumentException(path + "." + key + " must be " + what + ", got " + map.get(key));
    }

    public String string(String key) {
        Object v = require(key);
        if (!(v instanceof String)) {
            throw wrong(key, "a string");
        }
        return (String) v;
    }

    public String string(String key, String fallback) {
        return has(key) ? string(key) : fallback;
    }

    public double number(String key) {
        Object v = require(key);
        if (!(v instanceof Double)) {
            throw wrong(key, "a number");
        }
        return (Double) v;
    }

    public double number(String key, double fallback) {
        return has(key) ? number(key) : fallback;
    }

    public int integer(String key) {
        double v = number(key);
        if (v != Math.rint(v) || Math.abs(v) > Integer.MAX_VALUE) {
            throw wrong(key, "an integer");
        }
        return (int) v;
    }

    public int integer(String key, int fallback) {
        return has(key) ? integer(key) : fallback;
    }

    public boolean bool(String key, boolean fallback) {
        if (!has(key)) {
            return fallback;
        }
        Object v = map.get(key);
        if (!(v instanceof Boolean)) {
            throw wrong(key, "true or false");
        }
        return (Boolean) v;
    }

    public JsonFields object(String key) {
        return new JsonFields(require(key), path + "." + key);
    }

    @SuppressWarnings("unchecked")
    public List<Object> list(String key) {
        Object v = require(key);
        if (!(v instanceof List)) {
            throw wrong(key, "a list");
        }
        return (List<Object>) v;
    }

    /** A list of numbers as doubles. */
    public double[] numbers(String key) {
        List<Object> list = list(key);
        double[] out = new double[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Double)) {
                throw wrong(key, "a list of numbers");
            }
            out[i] = (Double) list.get(i);
        }
        return out;
    }

    public double[] numbers(String key, double[] fallback) {
        return has(key) ? numbers(key) : fallback;
    }

    /** A list of integers. */
    public int[] integers(String key) {
        double[] v = numbers(key);
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            if (v[i] != Math.rint(v[i])) {
                throw wrong(key, "a list of integers");
            }
            out[i] = (int) v[i];
        }
        return out;
    }

    /** The raw value (for nested lists); null when absent. */
    public Object raw(String key) {
        return map.get(key);
    }

    public String path() {
        return path;
    }
}
