package ai.convoy.actors.server;

/**
 * How many jobs the server holds (waiting or running) against its bound, and whether it still admits: past
 * {@code maxJobs} a job is refused at once rather than queued without end; once draining, every new job is.
 */
final class Admission {
    enum Verdict { ADMITTED, FULL, DRAINING }

    private final int maxJobs;
    private int held;
    private boolean draining;

    Admission(int maxJobs) {
        if (maxJobs < 1) {
            throw new IllegalArgumentException("--max-queue must be at least 1, not " + maxJobs);
        }
        this.maxJobs = maxJobs;
    }

    synchronized Verdict admit() {
        if (draining) {
            return Verdict.DRAINING;
        }
        if (held >= maxJobs) {
            return Verdict.FULL;
        }
        held++;
        return Verdict.ADMITTED;
    }

    /** A job admitted before has ended. */
    synchronized void release() {
        if (held == 0) {
            throw new IllegalStateException("released more jobs than were admitted");
        }
        held--;
        notifyAll();
    }

    synchronized int held() {
        return held;
    }

    int maxJobs() {
        return maxJobs;
    }

    /** Admits nothing from now on; waits until every held job ended or {@code millis} passed; true when all ended. */
    synchronized boolean drain(long millis) throws InterruptedException {
        draining = true;
        long deadline = System.currentTimeMillis() + millis;
        while (held > 0) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        return true;
    }
}
