from rewardkit.sampling.base import Sampler, SamplingParams

__all__ = ["Sampler", "SamplingParams"]
