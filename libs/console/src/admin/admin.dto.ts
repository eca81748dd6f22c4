import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { CONSOLE_ROLES, type ConsoleRole } from '../console-options.interface';
import { SETTING_LIMITS } from '../settings/console-settings.service';

export class CreateUserDto {
  @ApiProperty({ description: 'Letters, digits, ".", "_" or "-"; 1-64 characters.' })
  @IsString()
  @Matches(/^[A-Za-z0-9._-]{1,64}$/, { message: 'username must be 1-64 letters, digits, ".", "_" or "-"' })
  username!: string;

  @ApiProperty({ minLength: 12 })
  @IsString()
  @Length(12, 1024, { message: 'password must be at least 12 characters' })
  password!: string;

  @ApiProperty({ enum: CONSOLE_ROLES })
  @IsIn(CONSOLE_ROLES)
  role!: ConsoleRole;
}

export class UpdateUserDto {
  @ApiPropertyOptional({ minLength: 12 })
  @IsOptional()
  @IsString()
  @Length(12, 1024, { message: 'password must be at least 12 characters' })
  password?: string;

  @ApiPropertyOptional({ enum: CONSOLE_ROLES })
  @IsOptional()
  @IsIn(CONSOLE_ROLES)
  role?: ConsoleRole;
}

export class UpdateSettingsDto {
  @ApiPropertyOptional({ description: 'An outbox row pending longer than this (ms) is stuck.' })
  @IsOptional()
  @IsInt()
  @Min(SETTING_LIMITS.stuckAfterMs.min)
  @Max(SETTING_LIMITS.stuckAfterMs.max)
  stuckAfterMs?: number;

  @ApiPropertyOptional({ description: 'Default rate of bulk retries, messages per second.' })
  @IsOptional()
  @IsInt()
  @Min(SETTING_LIMITS.defaultRetryRatePerSec.min)
  defaultRetryRatePerSec?: number;
}
