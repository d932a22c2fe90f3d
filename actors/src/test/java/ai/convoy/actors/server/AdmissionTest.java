package ai.convoy.actors.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AdmissionTest {
    @Test
    void admitsUpToItsBoundThenRefusesUntilAJobEnds() {
        Admission a = new Admission(2);
        assertEquals(Admission.Verdict.ADMITTED, a.admit());
        assertEquals(Admission.Verdict.ADMITTED, a.admit());
        assertEquals(Admission.Verdict.FULL, a.admit());
        a.release();
        assertEquals(Admission.Verdict.ADMITTED, a.admit());
        assertEquals(2, a.held());
    }

    @Test
    void drainingRefusesNewJobsAndWaitsForTheHeldOnes() throws Exception {
        Admission a = new Admission(4);
        a.admit();
        assertFalse(a.drain(50), "one job still held after the timeout");
        assertEquals(Admission.Verdict.DRAINING, a.admit());
        Thread release = new Thread(() -> {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            a.release();
        });
        release.start();
        assertTrue(a.drain(10_000), "the held job ended");
        release.join();
        assertThrows(IllegalStateException.class, a::release, "more releases than admissions");
    }
}
