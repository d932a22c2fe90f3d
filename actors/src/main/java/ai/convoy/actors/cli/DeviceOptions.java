package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Devices;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/** Which devices a process offers and how much of each: --devices and --max-memory. */
final class DeviceOptions {
    @Option(names = "--devices", defaultValue = "auto", paramLabel = "auto|cuda:0,cuda:1|sim:0=24GiB,sim:1=24GiB|cpu",
            description = "Devices to plan for (default: ${DEFAULT-VALUE}: the CUDA GPUs, the CPU and the disk).")
    String devices;

    @Option(names = "--max-memory", paramLabel = "0=20GiB,1=20GiB,cpu=64GiB",
            description = "Budgets (GiB, GB, MiB, MB); only the devices named are used. Default: free memory less a safety margin.")
    String maxMemory;

    boolean given() {
        return !devices.equals("auto") || maxMemory != null;
    }

    /** The devices named, with their budgets; {@code near}: where the disk's free space is measured. */
    List<Device> resolve(Path near) {
        List<Device> out = Devices.resolve(devices, Devices.parseBudgets(maxMemory), Devices.cudaGpus(), Devices.availableRam(), Devices.diskFree(near));
        if (out.isEmpty()) {
            throw new ConvoyException("no devices to plan for: name some with --devices or --max-memory");
        }
        return out;
    }
}
