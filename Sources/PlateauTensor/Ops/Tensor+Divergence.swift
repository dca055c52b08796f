import Foundation

extension Tensor {
    /// τ²·KL(softmax(teacher/τ) ‖ softmax(self/τ)) per row of `[N, C]` logits (Hinton et al.
    /// 2015's distillation term, SAF's and MESA's trajectory loss), differentiable in `self`
    /// only; the teacher is a constant.
    ///
    /// One fused pass each way: SAF adds this term to every step, and as some twenty small
    /// graph operations it cost a few percent of an MLP step. The gradient is
    /// ∂/∂sᵢ = τ·(softmax(s/τ)ᵢ − softmax(t/τ)ᵢ); when the backward pass is itself recorded
    /// it is built from differentiable operations (`FusedOperation/temperedKL`).
    ///
    /// Reference: Hinton, Vinyals & Dean 2015, *Distilling the Knowledge in a Neural Network*, arXiv:1503.02531.
    public func temperedKLDivergence(from teacher: Tensor, temperature: Float) -> Tensor {
        precondition(rank == 2 && teacher.shape == shape,
                     "temperedKLDivergence: expected equal [N, C] logits, got \(shape) and \(teacher.shape)")
        precondition(temperature > 0, "temperedKLDivergence: temperature must be positive, got \(temperature)")
        let (n, c) = (shape[0], shape[1])
        var studentProbabilities = [Float](repeating: 0, count: n * c)
        var teacherProbabilities = [Float](repeating: 0, count: n * c)
        var divergences = [Float](repeating: 0, count: n)
        let inverse = 1 / Double(temperature), scale = Double(temperature) * Double(temperature)
        // The row's shifted exponentials, kept for the probabilities: two exponentials per
        // element instead of four (they were most of SAF's cost on the MLP).
        var exponentials = [Double](repeating: 0, count: 2 * c)
        scalars.withUnsafeBufferPointer { s in
          teacher.scalars.withUnsafeBufferPointer { t in
            studentProbabilities.withUnsafeMutableBufferPointer { studentProbabilities in
              teacherProbabilities.withUnsafeMutableBufferPointer { teacherProbabilities in
                exponentials.withUnsafeMutableBufferPointer { e in
                    for row in 0..<n {
                        let base = row * c
                        // Log-softmax of both rows in double precision, shifted by their maxima.
                        var maxS = -Double.infinity, maxT = -Double.infinity
                        for k in 0..<c { maxS = Swift.max(maxS, Double(s[base + k]) * inverse); maxT = Swift.max(maxT, Double(t[base + k]) * inverse) }
                        var sumS = 0.0, sumT = 0.0
                        for k in 0..<c {
                            e[k] = Foundation.exp(Double(s[base + k]) * inverse - maxS)
                            e[c + k] = Foundation.exp(Double(t[base + k]) * inverse - maxT)
                            sumS += e[k]
                            sumT += e[c + k]
                        }
                        let logZS = maxS + Foundation.log(sumS), logZT = maxT + Foundation.log(sumT)
                        var kl = 0.0
                        for k in 0..<c {
                            let logPS = Double(s[base + k]) * inverse - logZS, logPT = Double(t[base + k]) * inverse - logZT
                            let pT = e[c + k] / sumT
                            kl += pT * (logPT - logPS)
                            studentProbabilities[base + k] = Float(e[k] / sumS)
                            teacherProbabilities[base + k] = Float(pT)
                        }
                        divergences[row] = Float(kl * scale)
                    }
                }
              }
            }
          }
        }
        let student = self
        let (studentP, teacherP) = (studentProbabilities, teacherProbabilities)
        return Tensor.fused(.temperedKL, shape: [n], scalars: divergences, inputs: [self], fast: { g, _ in
            let values = g.scalars.withUnsafeBufferPointer { g in
                makeScalars(count: n * c) { out in
                    for row in 0..<n {
                        let factor = g[row] * temperature
                        for k in 0..<c { out[row * c + k] = factor * (studentP[row * c + k] - teacherP[row * c + k]) }
                    }
                }
            }
            return [Tensor(shape: [n, c], scalars: values)]
        }, differentiable: { g, _ in
            let difference = (student / temperature).softmax(alongAxis: 1) - Tensor(shape: [n, c], scalars: teacherP)
            return [g.reshaped(to: [n, 1]) * difference * temperature]
        })
    }
}
