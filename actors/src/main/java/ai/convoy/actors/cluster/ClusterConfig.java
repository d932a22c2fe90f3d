package ai.convoy.actors.cluster;

import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Devices;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A cluster's members as a HOCON file names them ({@code convoy.cluster.members}: name, host, port), and the Pekko
 * settings each member runs with: Pekko Cluster over Artery TCP (TLS with {@code convoy.cluster.tls}) bound to its own
 * address, every member a seed node, and the split-brain resolver downing a member that stays unreachable for
 * {@code down-after}.
 */
public record ClusterConfig(Path source, List<Member> members, Duration downAfter, Tls tls) {

    /**
     * Artery over TLS: every member presents {@code cert} (with {@code key}) and accepts only peers whose certificate
     * {@code ca} signed and whose subject is its own, so a process without the cluster's certificate cannot join.
     */
    public record Tls(Path key, Path cert, Path ca) {
    }

    /** A member; {@code devices} and {@code maxMemory} (as --devices and --max-memory say them) are null when the config leaves them out. */
    public record Member(String name, String host, int port, String devices, String maxMemory) {
        String address() {
            return "pekko://" + PipelineRuntime.SYSTEM_NAME + "@" + host + ":" + port;
        }
    }

    public static ClusterConfig load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw ConvoyException.in(file, "no such cluster config");
        }
        try {
            Config c = ConfigFactory.parseFile(file.toFile()).resolve().getConfig("convoy.cluster");
            List<Member> members = new ArrayList<>();
            for (Config m : c.getConfigList("members")) {
                Member member = new Member(m.getString("name"), m.getString("host"), m.getInt("port"),
                        m.hasPath("devices") ? m.getString("devices") : null, m.hasPath("max-memory") ? m.getString("max-memory") : null);
                if (!member.name().matches("[a-zA-Z0-9][a-zA-Z0-9_-]*")) {
                    throw ConvoyException.in(file, "member name '" + member.name() + "': letters, digits, - and _ only");
                }
                if (members.stream().anyMatch(x -> x.name().equals(member.name()))) {
                    throw ConvoyException.in(file, "member '" + member.name() + "' is named twice");
                }
                members.add(member);
            }
            if (members.isEmpty()) {
                throw ConvoyException.in(file, "convoy.cluster.members names no member");
            }
            return new ClusterConfig(file, List.copyOf(members), c.hasPath("down-after") ? c.getDuration("down-after") : Duration.ofSeconds(5),
                    c.hasPath("tls") ? tls(file, c.getConfig("tls")) : null);
        } catch (ConfigException e) {
            throw ConvoyException.in(file, e.getMessage().replace(file.toString() + ": ", ""));
        }
    }

    /** The TLS files, relative to the config file's folder unless absolute; a member checks that they exist as it joins. */
    private static Tls tls(Path file, Config tls) {
        Path dir = file.toAbsolutePath().getParent();
        return new Tls(dir.resolve(tls.getString("key-file")), dir.resolve(tls.getString("cert-file")), dir.resolve(tls.getString("ca-cert-file")));
    }

    private void requireTlsFiles() {
        String[] keys = {"key-file", "cert-file", "ca-cert-file"};
        Path[] files = {tls.key(), tls.cert(), tls.ca()};
        for (int i = 0; i < keys.length; i++) {
            if (!Files.isRegularFile(files[i])) {
                throw ConvoyException.in(source, "convoy.cluster.tls." + keys[i] + ": no such file " + files[i]);
            }
        }
    }

    /**
     * The GPUs the config gives member {@code name} ({@code devices}, {@code max-memory}), each naming the member; the
     * member's CUDA GPUs are {@code gpus} where it runs here, else planned from their budgets.
     */
    public List<Device> devicesOf(String name, List<Devices.Gpu> gpus) {
        Member m = member(name);
        if (m.devices() == null && m.maxMemory() == null) {
            throw ConvoyException.in(source, "member '" + name + "' names no devices: give it devices = \"cuda:0,...\" and max-memory = "
                    + "\"0=20GiB,...\" (or sim:N=SIZE devices)");
        }
        try {
            // CUDA GPUs of another machine are planned from their budgets, as --max-memory alone plans them
            boolean elsewhere = gpus.isEmpty() && m.maxMemory() != null && m.devices() != null && m.devices().matches("cuda:\\d+(,cuda:\\d+)*");
            List<Device> devices = Devices.resolve(elsewhere ? null : m.devices(), Devices.parseBudgets(m.maxMemory()), gpus, 0, 0).stream()
                    .filter(Device::gpu)
                    .map(d -> d.on(name)).toList();
            if (devices.isEmpty()) {
                throw new ConvoyException("no GPUs among them");
            }
            return devices;
        } catch (ConvoyException e) {
            throw ConvoyException.in(source, "member '" + name + "': " + e.getMessage());
        }
    }

    public Member member(String name) {
        return members.stream().filter(m -> m.name().equals(name)).findFirst().orElseThrow(() -> ConvoyException.in(source,
                "no member named '" + name + "' (members: " + String.join(", ", members.stream().map(Member::name).toList()) + ")"));
    }

    /** The Pekko settings of member {@code name}, over the application's own. */
    public Config pekko(String name) {
        Member me = member(name);
        Config transport = ConfigFactory.empty().withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef("tcp"));
        if (tls != null) {
            requireTlsFiles();
            String engine = "pekko.remote.artery.ssl.rotating-keys-engine.";
            transport = ConfigFactory.empty()
                    .withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef("tls-tcp"))
                    .withValue("pekko.remote.artery.ssl.ssl-engine-provider",
                            ConfigValueFactory.fromAnyRef("org.apache.pekko.remote.artery.tcp.ssl.RotatingKeysSSLEngineProvider"))
                    .withValue(engine + "key-file", ConfigValueFactory.fromAnyRef(tls.key().toString()))
                    .withValue(engine + "cert-file", ConfigValueFactory.fromAnyRef(tls.cert().toString()))
                    .withValue(engine + "ca-cert-file", ConfigValueFactory.fromAnyRef(tls.ca().toString()));
        }
        return transport
                .withValue("pekko.actor.provider", ConfigValueFactory.fromAnyRef("cluster"))
                .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(me.host()))
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(me.port()))
                .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(members.stream().map(Member::address).toList()))
                .withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(List.of(name)))
                .withValue("pekko.cluster.downing-provider-class",
                        ConfigValueFactory.fromAnyRef("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider"))
                .withValue("pekko.cluster.split-brain-resolver.active-strategy", ConfigValueFactory.fromAnyRef("keep-majority"))
                .withValue("pekko.cluster.split-brain-resolver.stable-after", ConfigValueFactory.fromAnyRef(downAfter.toMillis() + "ms"))
                // a prefill step's hidden states (512 rows of a 16,384-wide model: 32 MiB) exceed Artery's 256 KiB frames:
                // stages and the coordinator (the guardian) take messages up to 64 MiB on Artery's lane for large ones
                .withValue("pekko.remote.artery.large-message-destinations", ConfigValueFactory.fromIterable(List.of("/user", "/user/stage-*")))
                .withValue("pekko.remote.artery.advanced.maximum-large-frame-size", ConfigValueFactory.fromAnyRef("64MiB"))
                .withValue("pekko.remote.artery.advanced.large-buffer-pool-size", ConfigValueFactory.fromAnyRef(8))
                // a member the cluster removed starts again at once (convoy node joins anew): its shutdown need not wait long
                .withValue("pekko.coordinated-shutdown.default-phase-timeout", ConfigValueFactory.fromAnyRef("5s"))
                .withValue("pekko.coordinated-shutdown.phases.actor-system-terminate.timeout", ConfigValueFactory.fromAnyRef("5s"))
                .withValue("pekko.cluster.jmx.enabled", ConfigValueFactory.fromAnyRef(false))
                .withValue("pekko.cluster.log-info", ConfigValueFactory.fromAnyRef(false))
                .withFallback(ConfigFactory.load());
    }
}
