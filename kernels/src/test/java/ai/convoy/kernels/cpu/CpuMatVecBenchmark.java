package ai.convoy.kernels.cpu;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.DType;
import ai.convoy.kernels.WeightMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * The CPU matrix-vector product in GB/s of weights read, next to this machine's memory copy bandwidth (bytes
 * read plus bytes written, all cores). Run with ops/bench/cpu-matvec.
 */
public final class CpuMatVecBenchmark {
    private static final int REPEATS = 15;

    public static void main(String[] args) {
        int cores = Runtime.getRuntime().availableProcessors();
        double copy = copyBandwidth(cores);
        CpuBackend cpu = new CpuBackend();
        SplittableRandom random = new SplittableRandom(1);
        System.out.printf("cores %d, memory copy bandwidth %.1f GB/s (read + write)%n%n", cores, copy / 1e9);
        System.out.printf("%-12s %-14s %-5s %5s %10s %10s %12s%n", "kernel", "shape", "dtype", "rows", "ms", "GB/s", "of copy bw");
        int[][] shapes = {{14336, 4096}, {4096, 4096}};
        for (String format : new String[] {"NF4", "BF16", "F32"}) {
            for (int[] shape : shapes) {
                // four weights, used in turn, so no run finds the previous one in cache
                WeightMatrix[] weights = new WeightMatrix[4];
                for (int i = 0; i < weights.length; i++) {
                    weights[i] = format.equals("NF4") ? cpu.matrix(TestTensors.fourBit(random, shape[0], shape[1], 64, false))
                            : cpu.matrix(TestTensors.random(DType.valueOf(format), random, shape[0], shape[1]));
                }
                for (int rows : new int[] {1, 8}) {
                    Activations x = cpu.activations(rows, shape[1]);
                    cpu.write(x, TestTensors.floats(random, rows * shape[1]));
                    Activations y = cpu.activations(rows, shape[0]);
                    double seconds = median(REPEATS, i -> cpu.matmul(x, weights[i % weights.length], y));
                    double gbs = weights[0].bytes() / seconds / 1e9;
                    System.out.printf("%-12s %-14s %-5s %5d %10.2f %10.1f %11.0f%%%n", "matvec", shape[0] + "x" + shape[1],
                            format, rows, seconds * 1e3, gbs, 100 * gbs * 1e9 / copy);
                }
            }
        }
        System.out.printf("%n(NF4: blocks of 64, a float32 scale each; GB/s counts the codes and the scales)%n");
    }

    /** Copies 1 GiB between two native buffers, split over the cores; median over runs. */
    private static double copyBandwidth(int cores) {
        long size = 1L << 30;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocate(size, 64);
            MemorySegment b = arena.allocate(size, 64);
            a.fill((byte) 1);
            b.fill((byte) 2);
            double seconds = median(7, i -> IntStream.range(0, cores).parallel().forEach(c -> {
                long from = size * c / cores;
                long to = size * (c + 1) / cores;
                MemorySegment.copy(i % 2 == 0 ? a : b, from, i % 2 == 0 ? b : a, from, to - from);
            }));
            return 2.0 * size / seconds;
        }
    }

    private interface Run {
        void run(int iteration);
    }

    private static double median(int repeats, Run run) {
        for (int i = 0; i < 3; i++) {
            run.run(i);
        }
        double[] t = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long start = System.nanoTime();
            run.run(i);
            t[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(t);
        return t[repeats / 2];
    }

    private CpuMatVecBenchmark() {
    }
}
