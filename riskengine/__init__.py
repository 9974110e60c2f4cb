"""riskengine: find Year 9+ pupils at risk of becoming NEET early enough for careers advisers to act.

Data flows upload -> features -> rules + model -> explained flags -> evaluation; see docs/architecture.md.
"""

__version__ = "0.1.0"
