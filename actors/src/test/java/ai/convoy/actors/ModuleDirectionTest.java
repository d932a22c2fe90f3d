package ai.convoy.actors;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.equivalentTo;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import ai.convoy.kernels.Argmax;
import ai.convoy.kernels.TokenPick;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Dependencies point one way: actors → runtime → kernels; proto stands alone; pure logic knows no actors or CLI. */
class ModuleDirectionTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importClasses() {
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("ai.convoy");
    }

    @Test
    void kernelsKnowNothingAbove() {
        noClasses().that().resideInAPackage("ai.convoy.kernels..")
                .should().dependOnClassesThat().resideInAnyPackage("ai.convoy.runtime..", "ai.convoy.actors..", "ai.convoy.proto..")
                .check(classes);
    }

    @Test
    void runtimeKnowsNoActorsCommandLineOrMessages() {
        noClasses().that().resideInAPackage("ai.convoy.runtime..")
                .should().dependOnClassesThat().resideInAnyPackage("ai.convoy.actors..", "ai.convoy.proto..", "org.apache.pekko..", "picocli..")
                .check(classes);
    }

    @Test
    void protoStandsAlone() {
        noClasses().that().resideInAPackage("ai.convoy.proto..")
                .should().dependOnClassesThat().resideInAnyPackage("ai.convoy.kernels..", "ai.convoy.runtime..", "ai.convoy.actors..")
                .check(classes);
    }

    /**
     * Sampling touches no backend or file; the rules of a pick are the ones it shares with the backends (kernels.Argmax,
     * kernels.TokenPick, both pure logic).
     */
    @Test
    void samplingIsPureLogic() {
        noClasses().that().resideInAPackage("ai.convoy.runtime.generate..").and().haveSimpleNameStartingWith("Sampl")
                .should().dependOnClassesThat(resideInAnyPackage("ai.convoy.kernels..", "java.io..", "java.nio..")
                        .and(not(equivalentTo(Argmax.class))).and(not(equivalentTo(TokenPick.class))))
                .check(classes);
    }
}
