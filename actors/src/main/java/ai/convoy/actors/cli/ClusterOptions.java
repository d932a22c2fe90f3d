package ai.convoy.actors.cli;

import ai.convoy.actors.cluster.ClusterConfig;
import ai.convoy.runtime.ConvoyException;
import java.nio.file.Path;
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
