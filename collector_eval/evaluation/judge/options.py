"""Options of the judge (judge.*)."""

from __future__ import annotations

from dataclasses import dataclass, field

from collector_eval.config.checks import ConfigError, check_non_negative, check_positive


@dataclass
class JudgePriceConfig:
    # Price of 1000 tokens, in whatever currency the prices are given in.
    input_per_1k: float = 0
    output_per_1k: float = 0

    def validate(self, path: str) -> None:
        check_non_negative(self.input_per_1k, f"{path}.input_per_1k")
        check_non_negative(self.output_per_1k, f"{path}.output_per_1k")


@dataclass
class JudgeConfig:
    provider: str = "openai"  # openai | azure
    model: str = "gpt-4o-mini"
    base_url: str = ""  # any OpenAI-compatible endpoint; for azure, the resource endpoint
    api_key_env: str = "OPENAI_API_KEY"
    api_version: str = "2024-10-21"  # azure only
    timeout_s: float = 60
    # Extra attempts after a failed or unparseable answer.
    max_retries: int = 2
    max_concurrency: int = 4
    temperature: float = 0
    # Transcript budget in tokens (cl100k_base); past it the middle of the conversation is elided.
    max_input_tokens: int = 12000
    # Rate limits of this process's judge calls: past them a call waits, it does not fail (0: none).
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    # Judge tokens (input and output) this process may spend in any rolling hour; past it judge
    # evaluations are skipped with judge_budget_exhausted (0: no budget).
    max_tokens_per_hour: int = 0
    # Judge model -> price; a result's cost is reported when its model is listed.
    prices: dict[str, JudgePriceConfig] = field(default_factory=dict)

    def validate(self, path: str) -> None:
        if self.provider not in ("openai", "azure"):
            raise ConfigError(f"{path}.provider: {self.provider!r} is not one of openai, azure")
        if not self.model:
            raise ConfigError(f"{path}.model: must not be empty")
        if self.provider == "azure" and not self.base_url:
            raise ConfigError(f"{path}.base_url: required when provider is azure")
        check_positive(self.timeout_s, f"{path}.timeout_s")
        check_non_negative(self.max_retries, f"{path}.max_retries")
        check_positive(self.max_concurrency, f"{path}.max_concurrency")
        check_positive(self.max_input_tokens, f"{path}.max_input_tokens")
        for name in ("requests_per_minute", "tokens_per_minute", "max_tokens_per_hour"):
            check_non_negative(getattr(self, name), f"{path}.{name}")
        for model, price in self.prices.items():
            price.validate(f"{path}.prices.{model}")
