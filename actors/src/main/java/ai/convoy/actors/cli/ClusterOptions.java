package ai.convoy.actors.cli;

import ai.convoy.actors.cluster.ClusterConfig;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Devices;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/** Which cluster a process joins, and as which of its members. */
final class ClusterOptions {
    @Option(names = "--cluster-config", paramLabel = "FILE",
            description = "A HOCON file naming the cluster's members (convoy.cluster.members: name, host, port); see configs/.")
    Path file;

    @Option(names = "--member", paramLabel = "NAME", description = "This process's member name in --cluster-config.")
    String member;

    boolean given() {
        return file != null;
    }

    /**
     * This member's GPUs, each naming the member: --devices and --max-memory when given, else those the config gives
     * the member, else every GPU here.
     */
    List<Device> devices(ClusterConfig config, DeviceOptions options, Path near) {
        ClusterConfig.Member me = config.member(member);
        List<Device> devices = !options.given() && (me.devices() != null || me.maxMemory() != null) ? config.devicesOf(member, Devices.cudaGpus())
                : options.resolve(near).stream().filter(Device::gpu).map(d -> d.on(member)).toList();
        if (devices.isEmpty()) {
            throw new ConvoyException("a member offers its GPUs, and --devices names none: give cuda:N or sim:N=SIZE");
        }
        devices.stream().filter(d -> d.kind() == Device.Kind.CUDA && d.total() < 0).findFirst().ifPresent(d -> {
            throw new ConvoyException(d.id() + " is not on this machine: a member offers its own GPUs (give --devices to choose others)");
        });
        return devices;
    }

    /** The cluster config, with this process's member in it. */
    ClusterConfig load() {
        if (member == null) {
            throw new ConvoyException("--cluster-config needs --member NAME: which of its members this process is");
        }
        ClusterConfig config = ClusterConfig.load(file);
        config.member(member);
        return config;
    }
}
