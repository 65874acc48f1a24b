# The manual's 事後チェックリスト. "Decide quickly on a rollback" has no
# after-check: the decision table does it during the work (procedures/run/decisions.py).
@component:gateway @component:monitoring
Feature: Post-maintenance checklist

  @id:post-maintenance-checklist
  Scenario: The maintenance is closed properly
    Then every service is healthy
    And no new error lines appeared in the logs since the maintenance began
    And no silence of this maintenance is still active
    And the completion notice was delivered on every channel
    And the work report is written for this maintenance
    And old backups are pruned to the plan's retention
