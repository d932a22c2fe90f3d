package ai.convoy.actors.cli;

import java.util.concurrent.CountDownLatch;
import sun.misc.Signal;

/** SIGTERM and SIGINT as a latch that a long-running command waits on before it stops in order. */
final class StopSignals {
    private StopSignals() {
    }

    static CountDownLatch latch() {
        CountDownLatch stop = new CountDownLatch(1);
        for (String signal : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(signal), s -> stop.countDown());
        }
        return stop;
    }
}
