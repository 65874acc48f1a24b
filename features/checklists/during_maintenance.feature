# The manual's 実施中チェックリスト, checked against the real state: the
# silence in Alertmanager, the record on disk, the maintenance's journal.
@component:gateway @component:monitoring
Feature: During-maintenance checklist

  @id:during-maintenance-checklist
  Scenario: The work is silenced, recorded and verified step by step
    Then the maintenance's alerts are silenced
    And the work log is being recorded
    And every procedure that ran was verified
