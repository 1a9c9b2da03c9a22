"""What a user chooses before pressing Start: the data, the layer pattern as typed, the optimiser."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from core.trainer import TrainConfig


@dataclass(frozen=True)
class TrainSettings:
    dataset: str = "mnist"
    architecture: str = ""
    optimizer: str = "sgd"
    lr: float = 0.01
    batch_size: int = 64
    epochs: int = 5
    weight_decay: float = 0.0
    augment: bool = False
    schedule: str = "constant"
    pace: float = 0.0  # slow motion: at most this many steps a second; 0 = full speed

    def config(self) -> TrainConfig:
        """The trainer's configuration; raises ValueError naming a setting that cannot be used."""
        if not (self.pace >= 0 and self.pace < float("inf")):
            raise ValueError(f"slow motion must be 0 (off) or a number of steps per second, not {self.pace}")
        return TrainConfig(
            optimizer=self.optimizer, lr=self.lr, batch_size=self.batch_size, epochs=self.epochs,
            weight_decay=self.weight_decay, augment=self.augment, schedule=self.schedule,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> "TrainSettings":
        """Settings read back from a file; a missing field keeps its default, a wrongly typed or impossible
        one raises ValueError naming it."""
        if not isinstance(data, dict):
            raise ValueError("the training settings are not a table of values")
        values = {}
        for field in fields(cls):
            if field.name not in data:
                continue
            value = data.get(field.name)
            kind = {"str": str, "float": float, "int": int, "bool": bool}[field.type]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                raise ValueError(f"the training setting {field.name!r} is {value!r}, not a {kind.__name__}")
            values[field.name] = value
        settings = cls(**values)
        settings.config()
        return settings
