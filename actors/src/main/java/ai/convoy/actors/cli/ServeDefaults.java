package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Defaults of convoy serve's options from configuration: the documented configs/convoy.conf packed in the jar, under a
 * file given with --config; the command line overrides both. An option's key is its name without the dashes, under
 * {@code convoy.serve}.
 */
final class ServeDefaults implements IDefaultValueProvider {
    static final String PATH = "convoy.serve";
    private static final String BUILT_IN = "ai/convoy/actors/convoy.conf";

    private final Config config;

    private ServeDefaults(Config config) {
        this.config = config;
    }

    /** The built-in defaults, under {@code file} when one is given; a missing or malformed file is one line. */
    static ServeDefaults load(Path file) {
        Config builtIn = ConfigFactory.parseResources(ServeDefaults.class.getClassLoader(), BUILT_IN, ConfigParseOptions.defaults()
                .setAllowMissing(false));
        if (file == null) {
            return new ServeDefaults(builtIn);
        }
        if (!Files.isRegularFile(file)) {
            throw ConvoyException.in(file, "no such configuration file (--config)");
        }
        try {
            Config given = ConfigFactory.parseFile(file.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
            if (given.hasPath(PATH) && given.getValue(PATH).valueType() != com.typesafe.config.ConfigValueType.OBJECT) {
                throw ConvoyException.in(file, PATH + " must be an object of option names to values");
            }
            return new ServeDefaults(given.withFallback(builtIn).resolve());
        } catch (ConfigException e) {
            throw ConvoyException.in(file, "not a valid configuration: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    /** The value the configuration gives the option, as text; null leaves the option's own default. */
    @Override
    public String defaultValue(ArgSpec arg) {
        if (!(arg instanceof OptionSpec option) || option.longestName().equals("--config")) {
            return null;
        }
        String key = PATH + "." + option.longestName().replaceFirst("^-+", "");
        if (!config.hasPath(key)) {
            return null;
        }
        try {
            return switch (config.getValue(key).valueType()) {
                case LIST -> String.join(",", config.getStringList(key));
                case OBJECT -> throw new ConvoyException(key + " must be a value, not an object");
                default -> config.getString(key);
            };
        } catch (ConfigException e) {
            throw new ConvoyException(key + ": " + e.getMessage().lines().findFirst().orElse(""));
        }
    }
}
