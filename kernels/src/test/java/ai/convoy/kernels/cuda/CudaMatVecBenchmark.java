package ai.convoy.kernels.cuda;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.BlockScales;
import ai.convoy.kernels.DType;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.cpu.TestTensors;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The GPU matrix-vector product (decode) in GB/s of weights read, next to the device's copy bandwidth. Eight weight
 * copies are used in turn so no launch reads from L2. Run on the GPU machine:
 * {@code bash .device/on-gpu.sh java ... } with the test classes on the class path (see ops/cuda/bench-matvec.sh).
 */
public final class CudaMatVecBenchmark {
    public static void main(String[] args) {
        CudaBackend gpu = new CudaBackend(0);
        double copy = gpu.copyBandwidth(1L << 30, 9);
        System.out.printf("%s, device copy bandwidth %.0f GB/s (read + write)%n%n", gpu.deviceName(), copy / 1e9);
        System.out.printf("%-8s %-12s %5s %10s %10s %12s%n", "weights", "shape", "rows", "us", "GB/s", "of copy bw");
        SplittableRandom random = new SplittableRandom(1);
        int[][] shapes = {{14336, 4096}, {4096, 14336}, {4096, 4096}};
        for (String kind : new String[] {"nf4", "bf16"}) {
            for (int[] s : shapes) {
                WeightMatrix[] w = new WeightMatrix[8];
                for (int i = 0; i < w.length; i++) {
                    w[i] = kind.equals("bf16") ? gpu.matrix(TestTensors.random(DType.BF16, random, s[0], s[1])) : gpu.matrix(nf4(random, s[0], s[1]));
                }
                for (int rows : new int[] {1, 8}) {
                    Activations x = gpu.activations(rows, s[1]);
                    gpu.write(x, TestTensors.floats(random, rows * s[1]));
                    Activations y = gpu.activations(rows, s[0]);
                    double[] t = new double[7];
                    for (int rep = -2; rep < t.length; rep++) {
                        gpu.synchronize();
                        long t0 = System.nanoTime();
                        for (int i = 0; i < 64; i++) {
                            gpu.matmul(x, w[i % w.length], y);
                        }
                        gpu.synchronize();
                        if (rep >= 0) {
                            t[rep] = (System.nanoTime() - t0) / 1e9 / 64;
                        }
                    }
                    Arrays.sort(t);
                    double seconds = t[t.length / 2];
                    double gbs = w[0].bytes() / seconds / 1e9;
                    System.out.printf("%-8s %-12s %5d %10.1f %10.0f %11.0f%%%n", kind, s[0] + "x" + s[1], rows, seconds * 1e6, gbs, 100 * gbs * 1e9 / copy);
                }
                gpu.endStep();
            }
        }
        gpu.close();
    }

    private static FourBitWeight nf4(SplittableRandom random, int rows, int cols) {
        long n = (long) rows * cols;
        byte[] packed = new byte[(int) (n / 2)];
        random.nextBytes(packed);
        return new FourBitWeight("w", rows, cols, 64, TestTensors.floats(random, 16), MemorySegment.ofArray(packed),
                new BlockScales.Plain(TestTensors.floats(random, (int) (n / 64))));
    }

    private CudaMatVecBenchmark() {
    }
}
