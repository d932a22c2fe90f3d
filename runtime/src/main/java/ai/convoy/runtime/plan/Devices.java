package ai.convoy.runtime.plan;

import ai.convoy.runtime.ConvoyException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The devices a plan may use: from {@code --devices} (auto, cuda:N, sim:N=SIZE, cpu), budgets from
 * {@code --max-memory} (N=SIZE for GPU N, cpu=SIZE, disk=SIZE), and what the machine reports. When budgets are
 * given, only the devices they name are used, as with accelerate's max_memory.
 */
public final class Devices {
    private static final Pattern SIZE = Pattern.compile("(?i)\\s*([0-9]+(?:\\.[0-9]+)?)\\s*(B|KB|KIB|MB|MIB|GB|GIB|TB|TIB)?\\s*");
    /** Part of the free memory a default budget leaves alone. */
    private static final double DEFAULT_MARGIN = 0.05;
    private static final long DEFAULT_MARGIN_BYTES = 256L << 20;
    private static final long MIN_SIZE = 1L << 20;
    private static final long MAX_SIZE = 1L << 50;

    private Devices() {
    }

    /** A size with its unit (a bare number is refused: "64" could mean bytes or GiB), at least 1 MiB. */
    public static long parseSize(String option, String text) {
        Matcher m = SIZE.matcher(text);
        if (!m.matches()) {
            throw new ConvoyException(option + ": '" + text + "' is not a size (examples: 20GiB, 24GB, 512MiB)");
        }
        if (m.group(2) == null) {
            throw new ConvoyException(option + ": '" + text.trim() + "' has no unit: write " + text.trim() + "GiB, " + text.trim()
                    + "GB or " + text.trim() + "MiB");
        }
        double value = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "B" : m.group(2).toUpperCase();
        double scale = switch (unit) {
            case "B" -> 1;
            case "KB" -> 1e3;
            case "KIB" -> 1024;
            case "MB" -> 1e6;
            case "MIB" -> 1 << 20;
            case "GB" -> 1e9;
            case "GIB" -> 1L << 30;
            case "TB" -> 1e12;
            default -> 1L << 40;
        };
        double bytes = value * scale;
        if (bytes < MIN_SIZE) {
            throw new ConvoyException(option + ": '" + text.trim() + "' is less than 1 MiB");
        }
        if (bytes > MAX_SIZE) {
            throw new ConvoyException(option + ": '" + text.trim() + "' is more than 1024 TiB");
        }
        return (long) bytes;
    }

    /** "0=20GiB,1=20GiB,cpu=64GiB" as key to bytes. */
    public static Map<String, Long> parseBudgets(String text) {
        Map<String, Long> out = new LinkedHashMap<>();
        if (text == null || text.isBlank()) {
            return out;
        }
        for (String part : text.split(",")) {
            String[] kv = part.split("=", 2);
            String key = kv[0].trim().toLowerCase();
            if (kv.length != 2 || !(key.matches("\\d+") || key.equals("cpu") || key.equals("disk"))) {
                throw new ConvoyException("--max-memory: '" + part + "' is not GPU=SIZE, cpu=SIZE or disk=SIZE (example: 0=20GiB,1=20GiB,cpu=64GiB)");
            }
            if (out.put(key, parseSize("--max-memory", kv[1])) != null) {
                throw new ConvoyException("--max-memory: " + key + " is given twice");
            }
        }
        return out;
    }

    /** A GPU as the driver reports it. */
    public record Gpu(int index, String name, long total, long free) {
    }

    /** The devices for a plan; {@code gpus} are the machine's CUDA GPUs, {@code availableRam} its free memory. */
    public static List<Device> resolve(String devicesSpec, Map<String, Long> budgets, List<Gpu> gpus, long availableRam, long diskFree) {
        List<Device> out = new ArrayList<>();
        boolean auto = devicesSpec == null || devicesSpec.isBlank() || devicesSpec.equals("auto");
        if (auto) {
            if (!budgets.isEmpty()) {
                for (String key : budgets.keySet()) {
                    if (key.matches("\\d+")) {
                        int i = Integer.parseInt(key);
                        // a budget for a GPU this machine lacks plans for that GPU elsewhere (total unknown)
                        Gpu g = gpus.stream().filter(x -> x.index() == i).findFirst().orElse(null);
                        out.add(g == null ? new Device(Device.Kind.CUDA, i, "GPU " + i + " (not on this machine)", -1, budgets.get(key))
                                : new Device(Device.Kind.CUDA, i, g.name(), g.total(), budgets.get(key)));
                    }
                }
                if (budgets.containsKey("cpu")) {
                    out.add(new Device(Device.Kind.CPU, 0, "cpu", availableRam, budgets.get("cpu")));
                }
                if (budgets.containsKey("disk")) {
                    out.add(new Device(Device.Kind.DISK, 0, "disk", diskFree, budgets.get("disk")));
                }
                return out;
            }
            gpus.forEach(g -> out.add(new Device(Device.Kind.CUDA, g.index(), g.name(), g.total(), defaultBudget(g.free()))));
            out.add(new Device(Device.Kind.CPU, 0, "cpu", availableRam, defaultBudget(availableRam)));
            out.add(new Device(Device.Kind.DISK, 0, "disk", diskFree, diskFree));
            return out;
        }
        for (String part : devicesSpec.split(",")) {
            String p = part.trim().toLowerCase();
            Matcher sim = Pattern.compile("sim:(\\d+)=(.+)").matcher(p);
            Matcher cuda = Pattern.compile("cuda:(\\d+)").matcher(p);
            if (sim.matches()) {
                int i = Integer.parseInt(sim.group(1));
                long total = parseSize("--devices", sim.group(2));
                // a simulated GPU's size is its budget unless one is given
                out.add(new Device(Device.Kind.SIM, i, "simulated GPU", total, budgets.getOrDefault(sim.group(1), total)));
            } else if (cuda.matches()) {
                int i = Integer.parseInt(cuda.group(1));
                Gpu g = gpus.stream().filter(x -> x.index() == i).findFirst()
                        .orElseThrow(() -> new ConvoyException("--devices: no CUDA GPU " + i + " on this machine (found " + gpus.size() + ")"));
                out.add(new Device(Device.Kind.CUDA, i, g.name(), g.total(), budgets.getOrDefault(cuda.group(1), defaultBudget(g.free()))));
            } else if (p.equals("cpu")) {
                out.add(new Device(Device.Kind.CPU, 0, "cpu", availableRam, budgets.getOrDefault("cpu", defaultBudget(availableRam))));
            } else if (p.equals("disk")) {
                out.add(new Device(Device.Kind.DISK, 0, "disk", diskFree, budgets.getOrDefault("disk", diskFree)));
            } else {
                throw new ConvoyException("--devices: '" + part + "' is not auto, cuda:N, sim:N=SIZE, cpu or disk");
            }
            Device added = out.getLast();
            if (out.stream().filter(d -> d.kind() == added.kind() && d.index() == added.index()).count() > 1) {
                throw new ConvoyException("--devices: " + added.id() + " is named twice");
            }
        }
        for (String key : budgets.keySet()) {
            boolean planned = out.stream().anyMatch(d -> switch (d.kind()) {
                case CUDA, SIM -> key.equals(Integer.toString(d.index()));
                case CPU -> key.equals("cpu");
                case DISK -> key.equals("disk");
            });
            if (!planned) {
                String device = key.matches("\\d+") ? "GPU " + key + " (cuda:" + key + " or sim:" + key + "=SIZE)" : key;
                throw new ConvoyException("--max-memory gives a budget for " + device + ", which --devices leaves out: add it to --devices or drop "
                        + key + "=... from --max-memory");
            }
        }
        return out;
    }

    static long defaultBudget(long free) {
        return Math.max(0, (long) (free * (1 - DEFAULT_MARGIN)) - DEFAULT_MARGIN_BYTES);
    }

    /** CUDA GPUs as the driver reports them (through nvidia-smi), or none. */
    public static List<Gpu> cudaGpus() {
        List<Gpu> out = new ArrayList<>();
        try {
            Process p = new ProcessBuilder("nvidia-smi", "--query-gpu=index,name,memory.total,memory.free", "--format=csv,noheader,nounits")
                    .redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                return out;
            }
            for (String line : text.strip().split("\n")) {
                String[] f = line.split(",\\s*");
                if (f.length == 4) {
                    out.add(new Gpu(Integer.parseInt(f[0].trim()), f[1].trim(), Long.parseLong(f[2].trim()) << 20, Long.parseLong(f[3].trim()) << 20));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return out;
    }

    /** MemAvailable from /proc/meminfo, else what the JVM can see. */
    public static long availableRam() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // fall through to the JVM's view
        }
        return Runtime.getRuntime().maxMemory();
    }

    public static long diskFree(Path near) {
        try {
            return Files.getFileStore(near.toAbsolutePath().getRoot()).getUsableSpace();
        } catch (IOException e) {
            return Long.MAX_VALUE;
        }
    }
}
